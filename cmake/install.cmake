# Install rules (cmake --install): the binaries, the tool set modules,
# man pages, bash completion, systemd units and the sample configs.
include(GNUInstallDirs)

# mcpd loads its tool sets from BINDIR/../lib/zonegate (mcp/toolset.c), so
# the modules go to lib/zonegate under the prefix whatever LIBDIR is (a
# Debian multiarch LIBDIR would put them where mcpd does not look).
set(ZG_INSTALL_MODULEDIR lib/zonegate)
if(CMAKE_INSTALL_BINDIR MATCHES "/")
  message(WARNING "CMAKE_INSTALL_BINDIR=${CMAKE_INSTALL_BINDIR}: mcpd looks "
    "for its modules in BINDIR/../lib/zonegate and will not find them")
endif()
set(ZG_SYSTEMD_UNITDIR lib/systemd/system CACHE STRING
  "where the systemd units go, relative to the prefix")

# zonegate-zone-init beside zonectl: zonectl looks for it there.
foreach(bin gatewayd gatewayctl mcpd ragctl zonectl zonegate-zone-init
    zonegate-relay zonegate-agent zonegate-supervisor)
  if(TARGET ${bin})
    install(TARGETS ${bin} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endforeach()
foreach(mod zg_web_toolset zg_llm_toolset zg_rag_toolset)
  if(TARGET ${mod})
    install(TARGETS ${mod} LIBRARY DESTINATION ${ZG_INSTALL_MODULEDIR})
  endif()
endforeach()

install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
file(GLOB ZG_DOCS ${CMAKE_SOURCE_DIR}/docs/*.md)
install(FILES ${ZG_DOCS} DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES deploy/examples/gateway.json
  DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
# The sample policy is the one the quick start uses (data/gateway).
install(DIRECTORY data/gateway/policy.d
  DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

foreach(page gatewayctl.1 mcpd.1 ragctl.1 zonegate-relay.1 zonegate-agent.1
    zonegate-supervisor.1 gatewayd.8
    zonectl.8 zonegate-zone-init.8)
  string(REGEX REPLACE ".*\\." "" section ${page})
  install(FILES man/${page} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()

# One completion script serves every command: bash-completion loads
# completions/NAME on first use of NAME.
foreach(cmd gatewayd gatewayctl mcpd ragctl zonectl zonegate-relay
    zonegate-agent zonegate-supervisor)
  install(FILES deploy/bash-completion/zonegate
    DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
    RENAME ${cmd})
endforeach()

# The units name the installed binaries by absolute path, so they are
# written at install time, when the final prefix is known (cmake --install
# --prefix may differ from the configured one).
install(CODE "
  set(ZG_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
  foreach(unit zonegate-gatewayd.service zonegate-zones.service)
    configure_file(\"${CMAKE_SOURCE_DIR}/deploy/systemd/\${unit}.in\"
      \"${CMAKE_BINARY_DIR}/deploy/systemd/\${unit}\" @ONLY)
    file(INSTALL \"${CMAKE_BINARY_DIR}/deploy/systemd/\${unit}\"
      DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${ZG_SYSTEMD_UNITDIR}\")
  endforeach()
")
install(FILES deploy/systemd/sysusers.conf DESTINATION lib/sysusers.d
  RENAME zonegate.conf)
install(FILES deploy/systemd/tmpfiles.conf DESTINATION lib/tmpfiles.d
  RENAME zonegate.conf)

# The seed demo from the prefix (docs/deploy.md, "The demo from an
# install"): scripts/demo.mjs with the data it reads, in the same layout
# relative to each other as in the source tree, so that the installed
# script finds them beside itself and the binaries in the prefix's bin/.
set(ZG_DEMODIR ${CMAKE_INSTALL_DATADIR}/zonegate/demo)
install(FILES scripts/demo.mjs DESTINATION ${ZG_DEMODIR}/scripts)
install(DIRECTORY data/demo data/corpus DESTINATION ${ZG_DEMODIR}/data)
install(DIRECTORY data/web/pages DESTINATION ${ZG_DEMODIR}/data/web)
install(FILES test/web/webhost.mjs DESTINATION ${ZG_DEMODIR}/test/web)
install(FILES test/llm/chat-standin.mjs DESTINATION ${ZG_DEMODIR}/test/llm)
