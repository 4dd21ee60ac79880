# Shared by sandboxes/*/build-rootfs: a sandbox root made from Debian packages installed on
# this host and programs built from this repository, within the rules an install enforces
# (rootfs_check). Usage in a build script:
#
#   rootfs_begin "$1"                      # OUTDIR, which must not exist yet
#   rootfs_package mosquitto /usr/sbin/mosquitto
#   rootfs_user mosquitto 1883
#   rootfs_finish
#
# shellcheck shell=bash

ROOTFS=

die() {
  echo "${0##*/}: $*" >&2
  exit 1
}

# rootfs_begin OUTDIR: create OUTDIR with what every sandbox root needs: the directories the
# runtimes mount over, /data, an empty /etc/hosts for moatd's peer list to be bound over, and
# an nsswitch.conf that makes the C library read it. OUTDIR is removed again if the build fails.
rootfs_begin() {
  [[ $(id -u) -eq 0 ]] || die "must run as root, so that the files are root's"
  [[ -e $1 || -L $1 ]] && die "'$1' already exists"
  umask 022
  mkdir -p -- "$(dirname -- "$1")"
  mkdir -- "$1"
  ROOTFS=$(cd -- "$1" && pwd)
  trap 'rm -rf -- "$ROOTFS"' EXIT

  mkdir -p "$ROOTFS"/{data,tmp,dev,proc,sys,run,etc,usr/bin,usr/sbin,usr/lib}
  # The host's merged /usr (bin -> usr/bin, lib64 -> usr/lib64, ...), so that the paths ldd
  # and dpkg print for it work unchanged inside.
  local top target
  for top in bin sbin lib lib64; do
    target=$(readlink "/$top" || true)
    [[ -n $target && $target != /* ]] || continue
    mkdir -p "$ROOTFS/$target"
    ln -s "$target" "$ROOTFS/$top"
  done

  : >"$ROOTFS/etc/hosts"
  printf 'passwd: files\ngroup: files\nhosts: files\n' >"$ROOTFS/etc/nsswitch.conf"
  echo 'root:x:0:0:root:/nonexistent:/nonexistent' >"$ROOTFS/etc/passwd"
  echo 'root:x:0:' >"$ROOTFS/etc/group"
}

# rootfs_user NAME UID: the user (and its group) the sandbox's User= runs as.
rootfs_user() {
  echo "$1:x:$2:$2:$1:/data:/nonexistent" >>"$ROOTFS/etc/passwd"
  echo "$1:x:$2:" >>"$ROOTFS/etc/group"
}

# libraries_of ELF: the dynamic loader and every shared library ELF needs, as absolute paths.
libraries_of() {
  local out
  out=$(ldd "$1") || die "ldd '$1' failed"
  if grep -q 'not found' <<<"$out"; then
    die "'$1' needs libraries this host does not have: $(grep 'not found' <<<"$out" | tr -s ' \t\n' ' ')"
  fi
  awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }' <<<"$out"
}

# rootfs_elf FILE [DEST]: copy the program FILE to DEST (default: the same path) in the root,
# with its shared-library closure at the paths the loader looks for them.
rootfs_elf() {
  local file=$1 dest=${2:-$1} libs lib
  install -D -m 0755 -- "$file" "$ROOTFS$dest"
  # A static program needs nothing more.
  readelf -l -- "$file" | grep -q 'INTERP' || return 0
  libs=$(libraries_of "$file")
  while IFS= read -r lib; do
    [[ -e $ROOTFS$lib ]] && continue
    mkdir -p -- "$(dirname -- "$ROOTFS$lib")"
    cp -L --preserve=mode -- "$lib" "$ROOTFS$lib"
  done <<<"$libs"
}

# rootfs_package PACKAGE PATH...: copy each PATH, which the installed Debian PACKAGE must ship
# (dpkg -L), with its libraries when it is a program.
rootfs_package() {
  local package=$1 listed path
  shift
  listed=$(dpkg -L "$package") || die "package $package is not installed (ci/install-deps)"
  for path in "$@"; do
    grep -qxF -- "$path" <<<"$listed" || die "$package does not ship $path"
    if [[ $(head -c 4 -- "$path") == $'\x7fELF' ]]; then
      rootfs_elf "$path"
    else
      install -D -m 0644 -- "$path" "$ROOTFS$path"
    fi
  done
}

# rootfs_check DIR: exit with a message unless DIR follows the rules an install enforces.
rootfs_check() {
  local dir=$1 bad path link resolved
  bad=$(find "$dir" ! -type f ! -type d ! -type l -print -quit)
  [[ -z $bad ]] && bad=$(find "$dir" -perm /7000 ! -type l -print -quit)
  [[ -z $bad ]] && bad=$(find "$dir" -perm -0002 ! -type l -print -quit)
  [[ -z $bad ]] && bad=$(find "$dir" \( ! -user 0 -o ! -group 0 \) -print -quit)
  [[ -z $bad ]] || die "'$bad' is not a root-owned file, directory or symlink without setuid, setgid, sticky or world-write bits"
  for path in data tmp dev proc sys run etc; do
    [[ -d $dir/$path && ! -L $dir/$path ]] || die "/$path is not a directory"
  done
  [[ -f $dir/etc/hosts && ! -L $dir/etc/hosts && ! -s $dir/etc/hosts ]] ||
    die "/etc/hosts is not an empty regular file"
  [[ $(stat -c %a "$dir/etc/hosts") == 644 ]] || die "/etc/hosts is not 0644"
  grep -qx 'hosts: files' "$dir/etc/nsswitch.conf" || die "/etc/nsswitch.conf lacks 'hosts: files'"
  while IFS= read -r -d '' link; do
    [[ $(readlink -- "$link") != /* ]] || die "'$link' is an absolute symlink"
    resolved=$(realpath -m -- "$link")
    [[ $resolved == "$dir" || $resolved == "$dir"/* ]] || die "'$link' points outside the root"
  done < <(find "$dir" -type l -print0)
}

# rootfs_finish: make every file root's, 0755 or 0644, check the rules, and keep the root.
rootfs_finish() {
  chown -R -h 0:0 "$ROOTFS"
  chmod -R u=rwX,go=rX "$ROOTFS"
  rootfs_check "$ROOTFS"
  trap - EXIT
}
