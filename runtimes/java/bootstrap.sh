#!/bin/sh
# Lamina's launcher of the managed javaN runtimes. Usage: bootstrap.sh JAVA MAJOR MEMORY_MB
#
# It starts the JVM as Lambda's Java runtimes do: the serial collector, class-data sharing
# when the JDK has an archive, tiered compilation stopped at level 1 (C1 only) from Java 17
# on (Java 11 keeps the JVM's default), a heap of 85% of the function's memory, IPv4 first and
# UTF-8. JAVA_TOOL_OPTIONS, read by the JVM itself, comes after these flags and overrides
# them, as in Lambda. Then Lamina's runtime (lamina-runtime.jar, beside this script) loads
# the handler and serves the Runtime API.
#
# The runtime's classes come from the boot class path: the boot loader reads them natively,
# where the application class loader runs tens of thousands of interpreted bytecodes to
# load its first classes (a cold start's CPU went from 93.8 to 84.7 ms measured here, about
# what a class-data sharing archive of the runtime's classes gained). The jar stays on the class
# path, as Lambda's runtime's is, so that `java.class.path` is not the task root.
#
# The memory is an argument, not read from AWS_LAMBDA_FUNCTION_MEMORY_SIZE: a JVM started
# ahead of time (LAMINA_AWAIT_FUNCTION=stdin) fixes its heap before its function is known,
# so it serves only functions of the memory it was started for.
java="$1"
major="$2"
heap=$(( ${3:-128} * 85 / 100 ))
here=$(dirname "$0")
tiered=""
[ "${major:-17}" -ge 17 ] && tiered="-XX:+TieredCompilation -XX:TieredStopAtLevel=1"
# A class-data sharing archive of the runtime's classes beside this script (made by Lamina
# for this JDK and jar with -XX:ArchiveClassesAtExit) saves a JVM about a tenth of its start.
# The archive names the jar by the path it was given, so the jar is given relative to the
# working directory, /var/task, where the archive was made from the same layout. A JDK that
# cannot use it (another build, JAVA_TOOL_OPTIONS turning sharing off) starts without it,
# silently: what the JVM says about it would end up in the function's log.
jar="$here/lamina-runtime.jar"
if [ -e "$PWD/../runtime/java" ] && [ "$here" -ef "$PWD/../runtime/java" ]; then
    jar="../runtime/java/lamina-runtime.jar"
fi
set -- -Djava.net.preferIPv4Stack=true -Dfile.encoding=UTF-8 \
    -Xbootclasspath/a:"$jar" -cp "$jar" lamina.runtime.Bootstrap
if [ -r "$here/lamina.jsa" ]; then
    set -- -XX:SharedArchiveFile="$here/lamina.jsa" '-Xlog:cds*=off' "$@"
fi
# shellcheck disable=SC2086
exec "$java" $tiered -XX:+UseSerialGC -Xshare:auto -XX:MaxHeapSize="${heap}m" "$@"
