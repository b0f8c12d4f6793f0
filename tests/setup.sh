#!/usr/bin/env bash
# Finds or installs what the tests need beyond Rust, on a fresh machine of this project's
# kind (Debian, with Node.js and npm); sourced by ./test.sh. Exports KOTLINC.
#
# - Java 17, JNA and clang from Debian's packages (openjdk-17-jdk-headless, libjna-java,
#   clang): the Kotlin test of the mobile API and the check of the Swift bindings' C header;
# - kotlinc from the npm package kotlin-compiler, unpacked once into a cache folder
#   (KOTLIN_HOME; default /var/tmp/jingtu-kotlin);
# - the browser tests of the web console: Debian's chromium and CJK fonts (fonts-noto-cjk, so
#   the Chinese pages render in screenshots), and npm playwright-core installed once into a
#   cache folder (PLAYWRIGHT_HOME; default /var/tmp/jingtu-playwright). Exports
#   JINGTU_NODE_PATH for the test script. No browser is ever downloaded.
# Nothing is downloaded that is already there; a second run costs a second.

jingtu_setup() {
  local need_apt=()
  [ -f /usr/share/java/jna.jar ] || need_apt+=(libjna-java)
  command -v clang >/dev/null || need_apt+=(clang)
  command -v java >/dev/null || need_apt+=(openjdk-17-jdk-headless)
  command -v chromium >/dev/null || need_apt+=(chromium)
  [ -d /usr/share/fonts/opentype/noto ] || need_apt+=(fonts-noto-cjk)
  if [ ${#need_apt[@]} -gt 0 ]; then
    echo "== installing from Debian: ${need_apt[*]}"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
      if command -v sudo >/dev/null; then
        sudo=(sudo)
      else
        echo "the tests need these Debian packages: ${need_apt[*]} (run as root, or install them)" >&2
        return 1
      fi
    fi
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${need_apt[@]}" >/dev/null
  fi
  if [ -z "${KOTLINC:-}" ]; then
    local version=2.4.20
    local home="${KOTLIN_HOME:-/var/tmp/jingtu-kotlin/kotlin-compiler-$version}"
    if [ ! -x "$home/package/bin/kotlinc" ]; then
      command -v npm >/dev/null || {
        echo "the Kotlin test needs kotlinc: install Node.js and npm, or set KOTLINC" >&2
        return 1
      }
      echo "== unpacking kotlinc (npm kotlin-compiler@$version) into $home"
      mkdir -p "$home"
      (cd "$home" && npm pack --silent "kotlin-compiler@$version" >/dev/null &&
        tar xzf "kotlin-compiler-$version.tgz")
    fi
    export KOTLINC="$home/package/bin/kotlinc"
  fi
  local pw="${PLAYWRIGHT_HOME:-/var/tmp/jingtu-playwright}"
  if [ ! -d "$pw/node_modules/playwright-core" ]; then
    echo "== installing npm playwright-core into $pw (the browser is Debian's chromium)"
    mkdir -p "$pw"
    (cd "$pw" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --silent --no-audit --no-fund \
      playwright-core@1 >/dev/null)
  fi
  export JINGTU_NODE_PATH="$pw/node_modules"
}

jingtu_setup
