#!/usr/bin/env bash
# Debian packages the test suite drives as real peers: Paho Python (a second MQTT client),
# mosquitto and its command-line clients (device-agent tests), Chromium (browser tests).
# Installs what is missing when run as root with apt; otherwise says what to install.
set -euo pipefail
packages=(python3-paho-mqtt mosquitto mosquitto-clients chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "The tests need these Debian packages: ${missing[*]} (apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "Installing test dependencies: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
