#!/usr/bin/env bash
# Installs the Debian packages CityOps needs when they are missing:
#   mosquitto                  the MQTT broker the tests start (and production uses)
#   chromium chromium-driver   headless browser for the browser tests
#   fonts-noto-cjk             Chinese glyphs for the browser (the Chinese screens, the kiosk in Chinese)
# Usage: scripts/ensure-system-packages.sh mosquitto chromium chromium-driver
set -euo pipefail
missing=()
for package in "$@"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "Installing Debian packages: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
  echo "error: need root (or sudo) to install ${missing[*]}; install them and run again" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The package starts a system mosquitto on 1883 on some machines; CityOps's tests start their own.
