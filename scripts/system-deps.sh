#!/usr/bin/env bash
# Debian packages the tests need: a host C compiler, the AVR toolchain and QEMU's AVR machine
# (firmware), Mosquitto (MQTT against a real broker) and Chromium with its driver (the dashboard
# in a real browser).
# Installs only what is missing; without root (or sudo) it says what to install and goes on,
# and the tests that need these tools are skipped with that reason.
set -euo pipefail
need=()
command -v make >/dev/null || need+=(make)
command -v cc >/dev/null || need+=(gcc)  # the firmware's protocol code is also tested on the host
command -v avr-gcc >/dev/null || need+=(gcc-avr binutils-avr avr-libc)
command -v qemu-system-avr >/dev/null || need+=(qemu-system-misc)
[ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo"; else
    echo "system-deps: not root; install with: apt-get install ${need[*]}" >&2
    exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
