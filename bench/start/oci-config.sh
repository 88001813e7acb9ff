#!/bin/sh
# oci-config.sh ROOT CMD... : prints the OCI config.json of the benchmark's
# container for crun and runc: the same root, mnt/uts/ipc/pid/net
# namespaces, /proc and a /dev tmpfs (the runtime adds the usual device
# nodes), the OCI default's three capabilities, no_new_privs; no masked or
# read-only paths, no seccomp, no other mounts, as for the other tools.
set -eu
root=$1
shift
args=""
for a in "$@"; do args="$args${args:+, }\"$a\""; done
caps='"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"'
cat <<JSON
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": [$args],
    "env": ["PATH=/bin"],
    "cwd": "/",
    "capabilities": {"bounding": [$caps], "effective": [$caps],
                     "permitted": [$caps], "inheritable": [$caps], "ambient": [$caps]},
    "noNewPrivileges": true
  },
  "root": {"path": "$root", "readonly": false},
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc",
     "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}
  ],
  "linux": {
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                   {"type": "uts"}, {"type": "mount"}]
  }
}
JSON
