# Sourced by the deploy tests: check_command EXE ARG... checks that each
# --option among the ARGs is in EXE's --help and each bare word that does
# not follow an option (a subcommand) is a word of it, so that a unit,
# manifest or image cannot use a flag the binary does not have. Values
# (absolute paths, numbers, words after an option) are not checked.
# Failures go through the caller's fail function; WHERE names the caller.
check_command() {
	local exe=$1 help prev= a
	shift
	help=$("$exe" --help 2>&1)
	for a in "$@"; do
		case $a in
		--*)
			grep -q -- "${a%%=*}\([^a-z0-9-]\|$\)" <<<"$help" ||
				fail "${exe##*/} has no option ${a%%=*} ($WHERE)" ;;
		/* | [0-9]*) ;;
		*)
			case $prev in --*) ;; *)
				grep -qw -- "$a" <<<"$help" ||
					fail "${exe##*/} has no command $a ($WHERE)" ;;
			esac ;;
		esac
		prev=$a
	done
}
