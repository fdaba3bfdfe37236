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
  exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -XX:+UseSerialGC \
    ${JVIRT_JAVA_OPTS:-} -cp "$classpath" "$main" "$@"
}
