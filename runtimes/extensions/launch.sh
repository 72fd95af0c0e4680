#!/bin/sh
# Lamina's extension launcher, for functions whose layers hold external extensions.
# Usage: launch.sh EXTENSIONS_DIR [RUNTIME [ARGS...]]
#
# As Lambda does at the start of the init phase, it starts every executable file in
# EXTENSIONS_DIR (the layers' /opt/extensions, in name order), then becomes the runtime.
# Without a runtime (one started ahead of time is already waiting for its function), it
# ends once the extensions are started.
# The extensions and the runtime initialise side by side; the Runtime API holds the
# runtime's first invocation until every extension has registered and asked for its first
# event. Extensions see the function's environment without the runtime's own variables, as
# in Lambda.
dir="$1"
shift
for ext in "$dir"/*; do
    [ -f "$ext" ] && [ -x "$ext" ] || continue
    # Each line an extension writes is marked with an ASCII record separator, so that the
    # platform tells it from the function's output (Telemetry API's "extension" stream).
    (
        unset _HANDLER AWS_XRAY_CONTEXT_MISSING
        exec "$ext" 2>&1 </dev/null
    ) | while IFS= read -r line || [ -n "$line" ]; do
        printf '\036%s\n' "$line"
    done &
done
[ "$#" -gt 0 ] || exit 0
exec "$@"
