#!/bin/sh
# A minimal stdio MCP server for hosted tests that need many children
# cheaply (no Node start per child): it answers initialize, tools/list (one
# tool, "wait") and any other request with an empty result; a tools/call
# only when its arguments hold "answer":true, never the others. It says on
# stderr which calls and cancellations it got. Pure sh: no process is
# started per line.
answer() { printf '{"jsonrpc":"2.0","id":%s,"result":%s}\n' "$id" "$1"; }
while IFS= read -r line; do
	case $line in
	*'"notifications/cancelled"'*)
		rid=${line#*\"requestId\":}
		echo "mute-sh: cancelled ${rid%%[,\}]*}" >&2
		continue
		;;
	*'"id":'*) ;;
	*) continue ;; # another notification
	esac
	id=${line#*\"id\":}
	id=${id%%[,\}]*}
	case $line in
	*'"method":"initialize"'*)
		answer '{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"mute-sh","version":"1"}}'
		;;
	*'"method":"tools/list"'*)
		answer '{"tools":[{"name":"wait","inputSchema":{"type":"object"}}]}'
		;;
	*'"method":"tools/call"'*)
		echo "mute-sh: call $id" >&2
		case $line in
		*'"answer":true'*) answer '{"content":[{"type":"text","text":"fine"}]}' ;;
		esac
		;;
	*) answer '{}' ;;
	esac
done
