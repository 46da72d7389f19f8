# Sourced by the other scripts: installs the Debian 12 packages greenring
# needs, only those missing (apt-get as root, or through sudo).
greenring_install_deps() {
  local need=(g++ meson ninja-build pkg-config libboost-context-dev liburing-dev libssl-dev zlib1g-dev ca-certificates libgtest-dev libbenchmark-dev "$@")
  local missing=() p
  for p in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "greenring: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
