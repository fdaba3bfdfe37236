# Sourced by every jvirt script: picks the JDK 25 the project is built and run with.
# The machine's default java is 17, which cannot run jvirt (java.lang.foreign, release 25).
if [ -z "${JVIRT_JAVA_HOME:-}" ]; then
  for candidate in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-25-jdk /usr/lib/jvm/java-25-openjdk-amd64 /usr/lib/jvm/jdk-25*; do
    if [ -x "$candidate/bin/java" ]; then JVIRT_JAVA_HOME="$candidate"; break; fi
  done
fi
if [ -z "${JVIRT_JAVA_HOME:-}" ] || [ ! -x "$JVIRT_JAVA_HOME/bin/java" ]; then
  echo "jvirt: no JDK 25 found under /usr/lib/jvm (set JVIRT_JAVA_HOME)" >&2
  exit 1
fi
export JAVA_HOME="$JVIRT_JAVA_HOME"
export PATH="$JAVA_HOME/bin:$PATH"
JVIRT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export JVIRT_ROOT
# Maven 3.8's bundled Guava warns under JDK 25; the warning is noise, not a problem.
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
