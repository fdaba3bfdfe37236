# Sourced by bin/ launchers: runs MODULE's main class with its packaged class path.
# usage: launch MODULE MAIN_CLASS ARGS...
launch() {
  local module="$1" main="$2"; shift 2
  local classpath="${JVIRT_CLASSPATH:-}"
  if [ -z "$classpath" ]; then
    local jar="$JVIRT_ROOT/$module/target/$module.jar"
    if [ ! -f "$jar" ]; then
      echo "jvirt: $jar is not built; run scripts/setup first" >&2
      exit 1
    fi
    classpath="$jar:$JVIRT_ROOT/$module/target/lib/*"
  fi
  # aircompressor's pure-Java zstd (qcow2 compression_type=zstd) still uses sun.misc.Unsafe;
  # without this JDK 25 prints a deprecation warning to stderr on first use.
  exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow -XX:+UseSerialGC \
    ${JVIRT_JAVA_OPTS:-} -cp "$classpath" "$main" "$@"
}
