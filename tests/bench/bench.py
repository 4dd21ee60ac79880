#!/usr/bin/python3
"""Moat's benchmark: sandbox start latency and daemon memory, side by side with bare crun,
systemd-nspawn and podman on one busybox root, in one run. tests/bench/run sets up the temp
dir and the private mount namespace and calls `bench.py measure`; docs/benchmarks.md says
what is measured and how.

"Running" means the same thing for every method: the sandbox's payload, /bin/sh, has run its
first command, which writes a line to /data/ready, a FIFO the harness holds open for reading.
Latency is CLOCK_MONOTONIC from just before the start command is spawned until that line
arrives. Stopping and cleaning up happen outside the timed window.
"""

import json
import os
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time

READY_TIMEOUT_S = 30
TARGET_RATIO = 1.15
TARGET_RSS_KIB = 4 * 1024
MANY = 10  # sandboxes kept running for the memory and process counts
WARMUP_ROUNDS = 2

# The payload, the same for every method. $0 carries a marker so that a cleanup after a crash
# can find stray sandbox processes. It exits on SIGTERM (as pid 1 it would otherwise ignore it).
PAYLOAD_SCRIPT = "trap 'exit 0' TERM; echo ready >/data/ready; sleep 1000000 & wait"


class BenchError(Exception):
    pass


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def now_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


class Bench:
    def __init__(self, build, tmp, runs):
        self.build = os.path.realpath(build)
        self.tmp = tmp
        self.runs = runs
        self.marker = "moat-bench-payload-" + os.path.basename(tmp)
        self.payload = ["/bin/sh", "-c", PAYLOAD_SCRIPT, self.marker]
        self.rootfs = os.path.join(tmp, "rootfs")
        self.state = os.path.join(tmp, "state")
        self.run_dir = os.path.join(tmp, "run")
        self.log_dir = os.path.join(tmp, "log")
        self.crun_root = os.path.join(tmp, "crun")
        self.podman_dir = os.path.join(tmp, "podman")
        self.devnull = open(os.devnull, "r+b")
        self.out = open(os.path.join(tmp, "commands.log"), "ab")
        self.moatd = None
        self.nspawn_procs = {}  # name -> Popen
        self.podman_names = set()
        self.bare_names = set()
        self.moat_running = set()
        self.moat_starts = 2  # the two capture runs
        self.env = dict(os.environ)
        self.podman_env = dict(os.environ)

    # --- helpers ----------------------------------------------------------------------

    def call(self, argv, env=None, check=True, timeout=60):
        result = subprocess.run(argv, stdin=self.devnull, stdout=subprocess.PIPE,
                                stderr=self.out, env=env or self.env, timeout=timeout)
        if check and result.returncode != 0:
            raise BenchError(f"{' '.join(argv[:4])}... exited with {result.returncode} "
                             f"(see {self.out.name})")
        return result.stdout.decode()

    def moat(self, *args, check=True):
        return self.call([os.path.join(self.build, "moat"), "--run-dir", self.run_dir,
                          "--log-dir", self.log_dir, *args], check=check)

    def crun(self, *args, check=True):
        return self.call(["/usr/bin/crun", "--root", self.crun_root,
                          "--cgroup-manager=disabled", *args], check=check)

    def podman_argv(self, *args):
        p = self.podman_dir
        return ["/usr/bin/podman", "--root", f"{p}/root", "--runroot", f"{p}/runroot",
                "--storage-driver", "vfs", *args]

    def podman(self, *args, check=True):
        return self.call(self.podman_argv(*args), env=self.podman_env, check=check)

    def data_dir(self, name, owner, fifo):
        """A data dir owned by the sandbox's root (OWNER on the host), with a FIFO for the
        readiness line when FIFO is set, else a plain file the payload creates."""
        path = os.path.join(self.tmp, "data", name)
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chown(path, owner, owner)
        os.chmod(path, 0o700)
        self.make_ready(path, owner, fifo)
        return path

    @staticmethod
    def make_ready(path, owner, fifo):
        ready = os.path.join(path, "ready")
        if os.path.lexists(ready):
            os.unlink(ready)
        if fifo:
            os.mkfifo(ready, 0o600)
            os.chown(ready, owner, owner)

    def timed(self, argv, ready, detached, env=None):
        """Run ARGV; return (ms until the readiness line arrived on the FIFO READY, ms until
        the command returned or None, the Popen). A detached command must also return 0."""
        fifo = os.open(ready, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            start = now_ns()
            proc = subprocess.Popen(argv, stdin=self.devnull, stdout=self.out,
                                    stderr=self.out, env=env or self.env)
            pidfd = os.pidfd_open(proc.pid)
            poller = select.poll()
            poller.register(fifo, select.POLLIN)
            poller.register(pidfd, select.POLLIN)
            t_ready = t_exit = None
            deadline = start + READY_TIMEOUT_S * 10**9
            try:
                while t_ready is None or (detached and t_exit is None):
                    left_ms = (deadline - now_ns()) // 10**6
                    if left_ms <= 0:
                        proc.kill()
                        proc.wait()
                        raise BenchError(f"{argv[0]}: not ready within {READY_TIMEOUT_S} s")
                    for fd, events in poller.poll(left_ms):
                        stamp = now_ns()
                        if fd == fifo and events & (select.POLLIN | select.POLLHUP):
                            if os.read(fifo, 64):
                                t_ready = stamp
                                poller.unregister(fifo)
                        elif fd == pidfd:
                            t_exit = stamp
                            poller.unregister(pidfd)
                            proc.wait()
                            if detached and proc.returncode != 0:
                                raise BenchError(f"{' '.join(argv[:3])}... exited with "
                                                 f"{proc.returncode} (see {self.out.name})")
                            if not detached and t_ready is None:
                                raise BenchError(f"{argv[0]} exited before the payload ran")
            finally:
                os.close(pidfd)
        finally:
            os.close(fifo)
        ms = lambda t: None if t is None else (t - start) / 1e6
        return ms(t_ready), ms(t_exit), proc

    @staticmethod
    def wait_for(what, predicate, seconds=30):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.01)
        raise BenchError(f"timed out waiting for {what}")

    # --- setup ------------------------------------------------------------------------

    def setup_rootfs(self):
        # One copy of build/rootfs-busybox that every method runs on. Podman bind-mounts
        # /etc/hostname, /etc/hosts, /etc/resolv.conf and /run/.containerenv over files it
        # creates when missing, which a read-only root refuses: empty ones are added.
        shutil.copytree(os.path.join(self.build, "rootfs-busybox"), self.rootfs,
                        symlinks=True)
        for path in ("etc/hostname", "etc/hosts", "etc/resolv.conf", "run/.containerenv"):
            open(os.path.join(self.rootfs, path), "w").close()
        for dirpath, dirnames, filenames in os.walk(self.rootfs):
            for name in [dirpath] + [os.path.join(dirpath, n) for n in dirnames + filenames]:
                os.lchown(name, 0, 0)

    def install(self, name, backend):
        directory = os.path.join(self.state, "sandboxes", name, "current")
        os.makedirs(directory, exist_ok=True)
        for d in (self.state, os.path.join(self.state, "sandboxes"),
                  os.path.dirname(directory)):
            os.chmod(d, 0o755)
        os.symlink(self.rootfs, os.path.join(directory, "rootfs"))
        with open(os.path.join(directory, "manifest"), "w") as f:
            f.write(f"[Sandbox]\nName={name}\nVersion=1.0\nBackend={backend}\nRestart=no\n"
                    f'Exec=/bin/sh -c "{PAYLOAD_SCRIPT}" {self.marker}\nStopTimeout=5s\n')

    def start_moatd(self):
        with open(os.path.join(self.tmp, "moatd.log"), "ab") as err:
            self.moatd = subprocess.Popen(
                [os.path.join(self.build, "moatd"), "--state-dir", self.state, "--run-dir",
                 self.run_dir, "--log-dir", self.log_dir, "--cgroup-manager=disabled",
                 "--no-journal", "--no-start"], stdin=self.devnull, stdout=err, stderr=err)
        with open(os.path.join(self.tmp, "moatd.pid"), "w") as f:
            f.write(f"{self.moatd.pid}\n")
        sock = os.path.join(self.run_dir, "moatd.sock")

        def up():
            if self.moatd.poll() is not None:
                raise BenchError(f"moatd exited with {self.moatd.returncode} "
                                 f"(see {self.tmp}/moatd.log)")
            if not os.path.exists(sock):
                return False
            answer = subprocess.run(self.moat_argv("list"), stdin=self.devnull,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return answer.returncode == 0

        self.wait_for("moatd to answer", up)

    def moat_uid_base(self, name):
        status = json.loads(self.moat("status", name, "--json"))
        return int(status["confinement"]["uid_base"])

    def moat_data(self, name, fifo):
        """Prepare moatd's data dir for NAME (it keeps owner and contents) with the FIFO."""
        base = self.moat_uid_base(name)
        path = os.path.join(self.state, "sandboxes", name, "data")
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chown(path, base, base)
        self.make_ready(path, base, fifo)
        return path, base

    def setup_podman(self):
        p = self.podman_dir
        os.makedirs(p)
        with open(f"{p}/containers.conf", "w") as f:
            f.write(f"""[containers]
default_ulimits = []
log_driver = "k8s-file"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{p}/events.log"
runtime = "crun"
tmp_dir = "{p}/tmp"
volume_path = "{p}/volumes"
[network]
network_config_dir = "{p}/net"
""")
        with open(f"{p}/storage.conf", "w") as f:
            f.write(f'[storage]\ndriver = "vfs"\nrunroot = "{p}/runroot"\n'
                    f'graphroot = "{p}/root"\n')
        self.podman_env.update(CONTAINERS_CONF=f"{p}/containers.conf",
                               CONTAINERS_STORAGE_CONF=f"{p}/storage.conf",
                               CONTAINERS_REGISTRIES_CONF=f"{p}/registries.conf")
        open(f"{p}/registries.conf", "w").close()

    # --- the four methods ---------------------------------------------------------------

    def capture_configs(self):
        """Start the moat crun and nspawn sandboxes once through moatd (these are warm-up
        runs too) and keep what moatd generated: config.json and the nspawn command line."""
        data, self.crun_base = self.moat_data("bench-crun", fifo=True)
        self.timed(self.moat_argv("start", "bench-crun"), os.path.join(data, "ready"), True)
        self.moat_running.add("bench-crun")
        with open(os.path.join(self.run_dir, "sandboxes", "bench-crun", "config.json")) as f:
            self.oci_config = json.load(f)
        self.moat("stop", "bench-crun")
        self.moat_running.discard("bench-crun")

        data, self.nspawn_base = self.moat_data("bench-nspawn", fifo=True)
        self.timed(self.moat_argv("start", "bench-nspawn"), os.path.join(data, "ready"), True)
        self.moat_running.add("bench-nspawn")
        pid = json.loads(self.moat("status", "bench-nspawn", "--json"))["pid"]
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            self.nspawn_cmdline = [a.decode() for a in f.read().split(b"\0")[:-1]]
        bundle = os.path.join(self.run_dir, "sandboxes", "bench-nspawn")
        self.nspawn_bpf = os.path.join(self.tmp, "nspawn-seccomp.bpf")
        shutil.copy(os.path.join(bundle, "seccomp.bpf"), self.nspawn_bpf)
        self.nspawn_bundle = bundle
        self.moat("stop", "bench-nspawn")
        self.moat_running.discard("bench-nspawn")

    def moat_argv(self, *args):
        return [os.path.join(self.build, "moat"), "--run-dir", self.run_dir, "--log-dir",
                self.log_dir, *args]

    # moat start through moatd
    def moat_prepare(self, name, fifo):
        if name not in self.moat_installed:
            self.install(name, "crun")
            self.moat_installed.add(name)
        path, _ = self.moat_data(name, fifo)
        return os.path.join(path, "ready")

    def moat_start(self, name, ready):
        result = self.timed(self.moat_argv("start", name), ready, detached=True)
        self.moat_running.add(name)
        self.moat_starts += 1
        return result

    def moat_stop(self, name):
        self.moat("stop", name)
        self.moat_running.discard(name)

    # bare crun run --detach on moatd's config.json
    def bare_prepare(self, name, fifo):
        bundle = os.path.join(self.tmp, "bundles", name)
        if not os.path.isdir(bundle):
            os.makedirs(bundle)
            os.chmod(bundle, 0o755)
            config = json.loads(json.dumps(self.oci_config))
            data = self.data_dir(name, self.crun_base, fifo)
            for mount in config["mounts"]:
                if mount["destination"] == "/data":
                    mount["source"] = data
            with open(os.path.join(bundle, "config.json"), "w") as f:
                json.dump(config, f)
        else:
            self.make_ready(os.path.join(self.tmp, "data", name), self.crun_base, fifo)
        return os.path.join(self.tmp, "data", name, "ready")

    def bare_argv(self, name):
        bundle = os.path.join(self.tmp, "bundles", name)
        return ["/usr/bin/crun", "--root", self.crun_root, "--cgroup-manager=disabled", "run",
                "--detach", "--pid-file", os.path.join(bundle, "pid"), "--bundle", bundle, name]

    def bare_start(self, name, ready):
        self.bare_names.add(name)
        return self.timed(self.bare_argv(name), ready, detached=True)

    def bare_stop(self, name):
        pid = self.read_pid(os.path.join(self.tmp, "bundles", name, "pid"))
        self.crun("delete", "--force", name)
        self.bare_names.discard(name)
        if pid:
            self.wait_for(f"{name} to end", lambda: not self.alive(pid), 10)

    @staticmethod
    def read_pid(path):
        try:
            with open(path) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    @staticmethod
    def alive(pid):
        """True while PID runs (a zombie, waiting for its reaper, counts as ended)."""
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except OSError:
            return False

    # systemd-nspawn with the command line moatd generates, in the foreground
    def nspawn_prepare(self, name, fifo):
        data = self.data_dir(name, self.nspawn_base, fifo)
        return os.path.join(data, "ready")

    def nspawn_argv(self, name):
        data = os.path.join(self.tmp, "data", name)
        argv = []
        for arg in self.nspawn_cmdline:
            arg = arg.replace(os.path.join(self.nspawn_bundle, "data") + ":", data + ":")
            arg = arg.replace(os.path.join(self.nspawn_bundle, "seccomp.bpf") + ":",
                              self.nspawn_bpf + ":")
            arg = re.sub(r"^--machine=.*", f"--machine={name}", arg)
            argv.append(arg)
        return argv

    def nspawn_start(self, name, ready):
        t_ready, t_exit, proc = self.timed(self.nspawn_argv(name), ready, detached=False)
        self.nspawn_procs[name] = proc
        return t_ready, t_exit, proc

    def nspawn_stop(self, name):
        proc = self.nspawn_procs.pop(name)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    # podman run --detach --rootfs
    def podman_prepare(self, name, fifo):
        data = self.data_dir(name, self.crun_base, fifo)
        return os.path.join(data, "ready")

    def podman_run_argv(self, name):
        data = os.path.join(self.tmp, "data", name)
        base = self.crun_base
        return self.podman_argv(
            "run", "--detach", "--name", name, "--cgroups=disabled", "--network=none",
            "--read-only", "--read-only-tmpfs=false",
            "--tmpfs=/tmp:rw,nosuid,nodev,size=64m,mode=1777", "--cap-drop=all",
            "--security-opt=no-new-privileges", f"--uidmap=0:{base}:65536",
            f"--gidmap=0:{base}:65536", f"--volume={data}:/data", "--rootfs", self.rootfs,
            *self.payload)

    def podman_start(self, name, ready):
        self.podman_names.add(name)
        return self.timed(self.podman_run_argv(name), ready, detached=True,
                          env=self.podman_env)

    def podman_stop(self, name):
        self.podman("rm", "--force", "--time", "0", name)
        self.podman_names.discard(name)

    # --- measurements -----------------------------------------------------------------

    METHODS = ("moat", "crun", "nspawn", "podman")
    LABELS = {
        "moat": "moat start (moatd → crun)",
        "crun": "crun run --detach (bare)",
        "nspawn": "systemd-nspawn",
        "podman": "podman run --detach",
    }

    def method(self, key):
        return {
            "moat": (self.moat_prepare, self.moat_start, self.moat_stop),
            "crun": (self.bare_prepare, self.bare_start, self.bare_stop),
            "nspawn": (self.nspawn_prepare, self.nspawn_start, self.nspawn_stop),
            "podman": (self.podman_prepare, self.podman_start, self.podman_stop),
        }[key]

    def stragglers(self):
        """Processes, other than moatd and this harness, whose command line names the temp
        dir: a sandbox still ending, conmon, podman's cleanup command."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in (os.getpid(), self.moatd.pid):
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmdline = f.read().decode(errors="replace")
            except OSError:
                continue
            if self.tmp in cmdline or self.marker in cmdline:
                found.append(int(entry))
        return found

    def settle(self):
        """Wait until whatever the last stop left behind has ended (podman's conmon runs
        `podman container cleanup` after the container exits), so that it does not run
        during the next method's timed start."""
        try:
            self.wait_for("the previous sandbox's processes to end",
                          lambda: not self.stragglers(), 10)
        except BenchError as e:
            log(f"{e}: {self.stragglers()}")
        time.sleep(0.02)

    def latency(self):
        names = {"moat": "bench-crun", "crun": "bench-bare", "nspawn": "bench-nspawn-lat",
                 "podman": "bench-podman"}
        self.ready_ms = {m: [] for m in self.METHODS}
        self.return_ms = {m: [] for m in self.METHODS}
        self.cli_ms = []
        total = WARMUP_ROUNDS + self.runs
        for round_ in range(total):
            for key in self.METHODS:
                prepare, start, stop = self.method(key)
                ready = prepare(names[key], fifo=True)
                t_ready, t_exit, _ = start(names[key], ready)
                stop(names[key])
                self.settle()
                if round_ >= WARMUP_ROUNDS:
                    self.ready_ms[key].append(t_ready)
                    if t_exit is not None:
                        self.return_ms[key].append(t_exit)
            # The CLI's own round trip to moatd, for the breakdown (no sandbox starts).
            t0 = now_ns()
            self.moat("list")
            if round_ >= WARMUP_ROUNDS:
                self.cli_ms.append((now_ns() - t0) / 1e6)
            if (round_ + 1) % 10 == 0:
                log(f"latency: {round_ + 1}/{total} rounds")

    def snapshot(self):
        """Every process: pid -> (starttime, ppid, comm, pid namespace); no kernel threads."""
        procs = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
                comm = stat[stat.index("(") + 1:stat.rindex(")")]
                fields = stat[stat.rindex(")") + 2:].split()
                ppid, flags, starttime = int(fields[1]), int(fields[6]), fields[19]
                if flags & 0x00200000:  # PF_KTHREAD
                    continue
                pidns = os.readlink(f"/proc/{entry}/ns/pid")
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, ValueError):
                continue
            procs[int(entry)] = (starttime, ppid, comm, pidns, cmdline)
        return procs

    @staticmethod
    def pss_kib(pid):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    @staticmethod
    def status_kib(pid, field):
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    def moatd_memory(self):
        pid = self.moatd.pid
        return {"rss": self.status_kib(pid, "VmRSS"), "anon": self.status_kib(pid, "RssAnon"),
                "pss": self.pss_kib(pid)}

    def count_extra(self, before, after):
        """Of the processes new in AFTER: those inside the sandboxes' pid namespaces (their
        own) and those outside that belong to them: an ancestor of a sandbox process, a
        descendant of moatd or of this harness, or a command line that names our temp dir."""
        host_ns = os.readlink("/proc/self/ns/pid")
        new = {pid: p for pid, p in after.items()
               if pid not in before or before[pid][0] != p[0]}
        own = {pid for pid, p in new.items() if p[3] != host_ns}
        related = set()
        for pid in own:  # walk up from each sandbox process
            parent = after[pid][1]
            while parent in new and parent not in own:
                related.add(parent)
                parent = after[parent][1]
        roots = {self.moatd.pid, os.getpid()}
        for pid, p in new.items():
            if p[3] != host_ns or pid in related:
                continue
            chain, parent = set(), p[1]
            while parent in after and parent not in chain:
                if parent in roots:
                    related.add(pid)
                    break
                chain.add(parent)
                parent = after[parent][1]
            if self.tmp in p[4]:
                related.add(pid)
        return own, related, new

    def fleet(self, key):
        """Start MANY sandboxes with METHOD; count processes; return the numbers."""
        prepare, start, stop = self.method(key)
        prefix = {"moat": "bench-m", "crun": "bench-b", "nspawn": "bench-n",
                  "podman": "bench-p"}[key]
        names = [f"{prefix}{i:02d}" for i in range(1, MANY + 1)]
        before = self.snapshot()
        result = {}
        try:
            for name in names:
                ready = prepare(name, fifo=True)
                start(name, ready)
            time.sleep(1)  # let start commands and their helpers finish
            after = self.snapshot()
            own, related, new = self.count_extra(before, after)
            if key == "moat":
                result["moatd"] = self.moatd_memory()
            result["own"] = len(own) / MANY
            result["extra"] = len(related) / MANY
            result["extra_names"] = sorted({after[p][2] for p in related})
            result["extra_pss"] = sum(self.pss_kib(p) for p in related) / MANY
        finally:
            for name in names:
                try:
                    stop(name)
                except (BenchError, KeyError) as e:
                    log(f"stopping {name}: {e}")
        return result

    # --- report -----------------------------------------------------------------------

    @staticmethod
    def summary(values):
        if len(values) < 2:
            v = values[0] if values else float("nan")
            return v, v, v
        deciles = statistics.quantiles(values, n=10, method="inclusive")
        return statistics.median(values), deciles[0], deciles[8]

    def report(self):
        crun_median = self.summary(self.ready_ms["crun"])[0]
        lines = []
        out = lines.append
        out(f"Start to running: the payload's first command has run (a line on its /data "
            f"FIFO), {self.runs} runs each, interleaved; ms")
        out("")
        out("| method | median | p10 | p90 | ratio vs crun | command returned (median) |")
        out("|---|---:|---:|---:|---:|---:|")
        for key in self.METHODS:
            med, p10, p90 = self.summary(self.ready_ms[key])
            ret = self.return_ms[key]
            ret_text = f"{statistics.median(ret):.1f}" if ret else "stays (foreground)"
            out(f"| {self.LABELS[key]} | {med:.1f} | {p10:.1f} | {p90:.1f} | "
                f"{med / crun_median:.2f}x | {ret_text} |")
        med, p10, p90 = self.summary(self.cli_ms)
        out(f"| (moat list: CLI + socket round trip, no sandbox) | {med:.1f} | {p10:.1f} | "
            f"{p90:.1f} | | |")
        out("")
        idle, many, after = self.mem_idle, self.fleets["moat"]["moatd"], self.mem_after
        mib = lambda kib: f"{kib / 1024:.2f} MiB"
        out("moatd memory")
        out("")
        out("| moatd | VmRSS | RssAnon | Pss |")
        out("|---|---:|---:|---:|")
        out(f"| 0 sandboxes (fresh) | {mib(idle['rss'])} | {mib(idle['anon'])} | "
            f"{mib(idle['pss'])} |")
        out(f"| {MANY} crun sandboxes running | {mib(many['rss'])} | {mib(many['anon'])} | "
            f"{mib(many['pss'])} |")
        out(f"| 0 sandboxes, after {self.moat_starts} starts and stops | "
            f"{mib(after['rss'])} | {mib(after['anon'])} | {mib(after['pss'])} |")
        out("")
        out(f"Processes per sandbox, {MANY} running of each")
        out("")
        out("| method | sandbox's own (payload sh + sleep, pid-ns init) | extra on the host | "
            "which | extra Pss per sandbox |")
        out("|---|---:|---:|---|---:|")
        for key in self.METHODS:
            f = self.fleets[key]
            which = ", ".join(f["extra_names"]) or "none"
            out(f"| {self.LABELS[key]} | {f['own']:g} | {f['extra']:g} | {which} | "
                f"{mib(f['extra_pss'])} |")
        out("")
        ratio = statistics.median(self.ready_ms["moat"]) / crun_median
        verdict = lambda ok: "PASS" if ok else "MISS"
        out("Targets")
        out("")
        out(f"- {verdict(ratio <= TARGET_RATIO)}: moat start within {TARGET_RATIO}x of bare "
            f"crun (median {ratio:.2f}x)")
        out(f"- {verdict(many['rss'] < TARGET_RSS_KIB)}: moatd under 4 MiB RSS with {MANY} "
            f"sandboxes (VmRSS {mib(many['rss'])}, Pss {mib(many['pss'])})")
        extra = self.fleets["moat"]["extra"]
        out(f"- {verdict(extra == 0)}: 0 extra processes per crun sandbox under moatd "
            f"({extra:g})")
        return "\n".join(lines)

    def versions(self):
        def first_line(argv):
            try:
                return self.call(argv, check=False).splitlines()[0]
            except (OSError, IndexError):
                return "?"
        return {
            "kernel": os.uname().release,
            "cpus": os.cpu_count(),
            "crun": first_line(["/usr/bin/crun", "--version"]),
            "systemd-nspawn": first_line(["/usr/bin/systemd-nspawn", "--version"]),
            "podman": first_line(["/usr/bin/podman", "--version"]),
        }

    # --- main -------------------------------------------------------------------------

    def measure(self):
        os.makedirs(self.crun_root)
        os.makedirs(self.log_dir)
        os.chmod(self.tmp, 0o755)
        self.setup_rootfs()
        self.setup_podman()
        self.moat_installed = {"bench-crun", "bench-nspawn"}
        self.install("bench-crun", "crun")
        self.install("bench-nspawn", "nspawn")
        for i in range(1, MANY + 1):
            self.install(f"bench-m{i:02d}", "crun")
            self.moat_installed.add(f"bench-m{i:02d}")
        self.start_moatd()
        time.sleep(0.2)
        self.mem_idle = self.moatd_memory()
        log("capturing moatd's config.json and nspawn command line")
        self.capture_configs()
        log(f"latency: {WARMUP_ROUNDS} warm-up + {self.runs} rounds of "
            f"{', '.join(self.METHODS)}")
        self.latency()
        self.fleets = {}
        for key in self.METHODS:
            log(f"processes and memory: {MANY} sandboxes with {key}")
            self.fleets[key] = self.fleet(key)
        self.mem_after = self.moatd_memory()
        versions = self.versions()
        print(f"# Moat benchmark, {time.strftime('%Y-%m-%d %H:%M')}, "
              f"{versions['cpus']} CPUs, kernel {versions['kernel']}")
        print(f"# {versions['crun']}; {versions['systemd-nspawn']}; {versions['podman']}")
        print()
        print(self.report())
        with open(os.path.join(self.tmp, "samples.json"), "w") as f:
            json.dump({"ready_ms": self.ready_ms, "return_ms": self.return_ms,
                       "cli_ms": self.cli_ms}, f)
        if os.environ.get("BENCH_SAMPLES"):
            shutil.copy(os.path.join(self.tmp, "samples.json"), os.environ["BENCH_SAMPLES"])

    def teardown(self):
        for name in list(self.nspawn_procs):
            try:
                self.nspawn_stop(name)
            except Exception as e:  # keep cleaning up
                log(f"cleanup: {name}: {e}")
        for name in list(self.bare_names):
            self.crun("delete", "--force", name, check=False)
        if self.podman_names:
            self.podman("rm", "--all", "--force", "--time", "0", check=False)
        if self.moatd is not None and self.moatd.poll() is None:
            self.moatd.terminate()
            try:
                self.moatd.wait(60)
            except subprocess.TimeoutExpired:
                self.moatd.kill()
                self.moatd.wait()


def kill_strays(tmp):
    """After a crash: end every process whose command line names TMP or carries the payload
    marker, by pid (moatd first, so that it can stop its sandboxes)."""
    marker = "moat-bench-payload-" + os.path.basename(tmp)
    try:
        with open(os.path.join(tmp, "moatd.pid")) as f:
            moatd = int(f.read())
        os.kill(moatd, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and os.path.exists(f"/proc/{moatd}"):
            time.sleep(0.1)
    except (OSError, ValueError):
        pass
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().decode(errors="replace")
        except OSError:
            continue
        if tmp in cmdline or marker in cmdline:
            try:
                os.kill(int(entry), signal.SIGKILL)
            except OSError:
                pass


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "cleanup":
        kill_strays(sys.argv[2])
        return 0
    if len(sys.argv) != 5 or sys.argv[1] != "measure":
        print("usage: bench.py measure BUILD_DIR TMP_DIR RUNS | bench.py cleanup TMP_DIR",
              file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    bench = Bench(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    try:
        bench.measure()
    except (BenchError, OSError, subprocess.SubprocessError) as e:
        log(f"failed: {e}")
        return 1
    finally:
        bench.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
