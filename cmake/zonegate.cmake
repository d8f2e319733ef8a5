# Helpers every part's CMakeLists uses to declare tests and fuzz targets.

# zg_add_unit_test(NAME name SOURCES a.c... LIBS lib... [TIMEOUT s])
# Builds a test binary into build/bin/tests and registers it with ctest.
function(zg_add_unit_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS})
  target_include_directories(${T_NAME} PRIVATE ${CMAKE_SOURCE_DIR}/test/common)
  set_target_properties(${T_NAME} PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin/tests)
  add_test(NAME ${T_NAME} COMMAND ${T_NAME})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS unit)
endfunction()

# zg_add_fuzzer(NAME name SOURCES a.c... LIBS lib... CORPUS dir
#               [ITERATIONS n])
# With ZG_FUZZ a libFuzzer binary, smoke-run by ctest for a few seconds;
# without, the same entry point linked to a replay-and-mutate driver
# (test/fuzz/standalone.c) so every build exercises every parser.
function(zg_add_fuzzer)
  cmake_parse_arguments(F "" "NAME;CORPUS;ITERATIONS" "SOURCES;LIBS" ${ARGN})
  if(NOT F_ITERATIONS)
    set(F_ITERATIONS 20000)
  endif()
  if(ZG_FUZZ)
    add_executable(${F_NAME} ${F_SOURCES})
    target_link_options(${F_NAME} PRIVATE -fsanitize=fuzzer)
  else()
    add_executable(${F_NAME} ${F_SOURCES} ${CMAKE_SOURCE_DIR}/test/fuzz/standalone.c)
    target_link_libraries(${F_NAME} PRIVATE zg_common) # standalone.c
  endif()
  target_link_libraries(${F_NAME} PRIVATE ${F_LIBS})
  set_target_properties(${F_NAME} PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin/fuzz)
  if(NOT ZG_FUZZ_SECONDS)
    set(ZG_FUZZ_SECONDS 15)
  endif()
  if(ZG_FUZZ)
    set(work ${CMAKE_BINARY_DIR}/fuzz-corpus/${F_NAME})
    file(MAKE_DIRECTORY ${work})
    add_test(NAME fuzz_${F_NAME}
      COMMAND ${F_NAME} -max_total_time=${ZG_FUZZ_SECONDS} -rss_limit_mb=1024
              -timeout=10 ${work} ${F_CORPUS})
  else()
    add_test(NAME fuzz_${F_NAME} COMMAND ${F_NAME} -iterations=${F_ITERATIONS} ${F_CORPUS})
  endif()
  set_tests_properties(fuzz_${F_NAME} PROPERTIES TIMEOUT 300 LABELS fuzz)
endfunction()
