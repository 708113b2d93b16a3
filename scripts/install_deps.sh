#!/usr/bin/env bash
# Installs Tessera's dependencies from Debian 12 packages. Idempotent: only
# missing packages are installed. Usage: scripts/install_deps.sh [build|test|data|all]...
#   build  compilers, CMake/Ninja, oneDNN (GEMM), JSON, CLI11, GoogleTest/Benchmark, zlib, ICU,
#          SQLite, libpq, OpenSSL (the usage ledger), cpp-httplib (tessera serve)
#   test   build + Debian's PyTorch (the parity oracle), numpy, scikit-learn, venv + pip (scripts/setup_pyref.sh),
#          the PostgreSQL 15 server (the ledger's PostgreSQL tests, scripts/pg_test_cluster.sh)
#   data   dataset-fashion-mnist and fortunes (the quickstart's data)
#   all    everything (default)
set -euo pipefail

BUILD_PKGS=(g++ cmake ninja-build pkg-config libgtest-dev libbenchmark-dev libdnnl2 libdnnl-dev nlohmann-json3-dev libcli11-dev zlib1g-dev libicu-dev
            libsqlite3-dev libpq-dev libssl-dev libcpp-httplib-dev libopenmpi-dev openmpi-bin)
TEST_PKGS=(python3 python3-torch python3-numpy python3-sklearn python3-venv postgresql-15)
DATA_PKGS=(dataset-fashion-mnist fortunes)

groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(all)
want=()
for g in "${groups[@]}"; do
  case "$g" in
    build) want+=("${BUILD_PKGS[@]}") ;;
    test) want+=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}") ;;
    data) want+=("${DATA_PKGS[@]}") ;;
    all) want+=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}" "${DATA_PKGS[@]}") ;;
    *) echo "install_deps.sh: unknown group '$g' (expected build, test, data or all)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    case " ${missing[*]-} " in *" $p "*) ;; *) missing+=("$p") ;; esac
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps.sh: all ${#want[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "install_deps.sh: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
  fi
fi
echo "install_deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || { echo "install_deps.sh: apt-get update failed; check the network/apt sources" >&2; exit 1; }
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/tessera-apt.log 2>&1; then
  for p in "${missing[@]}"; do
    if ! apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
      echo "install_deps.sh: Debian package '$p' is not available from the configured apt sources" >&2
    fi
  done
  echo "install_deps.sh: apt-get install failed; log in /tmp/tessera-apt.log" >&2
  tail -n 20 /tmp/tessera-apt.log >&2
  exit 1
fi
echo "install_deps.sh: done"
