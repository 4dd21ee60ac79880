#!/usr/bin/python3
"""Moat's benchmark: sandbox start latency and daemon memory, side by side with bare crun,
systemd-nspawn and podman on one busybox root, in one run. tests/bench/run makes the temp
dir and the private mount namespace and runs `bench.py measure` inside it; docs/benchmarks.md
says what is measured and how.

"Running" means the same thing for every method: the sandbox's payload, /bin/sh, has run its
first command, which writes a line to /data/ready, a FIFO that the harness holds open for
reading. Latency is CLOCK_MONOTONIC from just before the start command is spawned until that
line arrives. Stopping and cleaning up happen outside the timed window.
"""

import json
import os
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
MANY = 10  # sandboxes of each method kept running for the memory and process counts
WARMUP_ROUNDS = 2  # rounds run first and not counted
PAUSE_S = 0.02  # after a stop, before the next timed command
WAKE_SPAWNS = 3  # trivial spawns just before each timed command (see Bench.quiesce)

# The payload, the same for every method. Its $0 is a marker by which a cleanup after a crash
# finds stray sandbox processes. It exits on SIGTERM, which it would ignore as pid 1.
PAYLOAD_SCRIPT = "trap 'exit 0' TERM; echo ready >/data/ready; sleep 1000000 & wait"


class BenchError(Exception):
    pass


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def now_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def read_int(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def alive(pid):
    """True while PID runs (a zombie waiting for its reaper has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def wait_for(what, predicate, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise BenchError(f"timed out waiting for {what}")


def kib_field(path, field):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory_of(pid):
    status = f"/proc/{pid}/status"
    return {"rss": kib_field(status, "VmRSS"), "anon": kib_field(status, "RssAnon"),
            "pss": kib_field(f"/proc/{pid}/smaps_rollup", "Pss")}


def processes():
    """Every process but kernel threads: pid -> (starttime, ppid, comm, pid ns, cmdline)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[6]) & 0x00200000:  # PF_KTHREAD
                continue
            pidns = os.readlink(f"/proc/{entry}/ns/pid")
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        found[int(entry)] = (fields[19], int(fields[1]), comm, pidns, cmdline)
    return found


class Bench:
    """The temp dir, moatd, and what the four methods share."""

    def __init__(self, build, tmp, runs):
        self.build = os.path.realpath(build)
        self.tmp = tmp
        self.runs = runs
        self.marker = "moat-bench-payload-" + os.path.basename(tmp)
        self.rootfs = os.path.join(tmp, "rootfs")
        self.state = os.path.join(tmp, "state")
        self.log_dir = os.path.join(tmp, "log")
        # TMP/run is a tmpfs (tests/bench/run mounts it): these live in /run on a real system.
        self.run = os.path.join(tmp, "run")
        self.run_dir = os.path.join(self.run, "moat")
        self.devnull = open(os.devnull, "r+b")
        self.out = open(os.path.join(tmp, "commands.log"), "ab")
        self.moatd = None
        self.uid_bases = {}

    # --- commands -----------------------------------------------------------------------

    def call(self, argv, env=None, check=True):
        result = subprocess.run(argv, stdin=self.devnull, stdout=subprocess.PIPE,
                                stderr=self.out, env=env, timeout=120)
        if check and result.returncode != 0:
            raise BenchError(f"{' '.join(argv[:6])}... exited with {result.returncode} "
                             f"(see {self.out.name})")
        return result.stdout.decode()

    def moat_argv(self, *args):
        return [os.path.join(self.build, "moat"), "--run-dir", self.run_dir, "--log-dir",
                self.log_dir, *args]

    def moat(self, *args):
        return self.call(self.moat_argv(*args))

    def timed(self, argv, ready, detached, env=None):
        """Spawn ARGV; return (ms until a line arrived on the FIFO READY, ms until the
        command exited or None, its Popen). A detached command must also exit 0; a
        foreground one must still run."""
        fifo = os.open(ready, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            start = now_ns()
            proc = subprocess.Popen(argv, stdin=self.devnull, stdout=self.out,
                                    stderr=self.out, env=env)
            t_ready, t_exit = self.wait_ready(proc, fifo, start, detached)
        finally:
            os.close(fifo)
        return (t_ready - start) / 1e6, None if t_exit is None else (t_exit - start) / 1e6, proc

    def wait_ready(self, proc, fifo, start, detached):
        pidfd = os.pidfd_open(proc.pid)
        try:
            poller = select.poll()
            poller.register(fifo, select.POLLIN)
            poller.register(pidfd, select.POLLIN)
            t_ready = t_exit = None
            while t_ready is None or (detached and t_exit is None):
                left_ms = (start + READY_TIMEOUT_S * 10**9 - now_ns()) // 10**6
                events = poller.poll(max(left_ms, 0))
                stamp = now_ns()
                if not events:
                    proc.kill()
                    proc.wait()
                    raise BenchError(f"{proc.args[0]}: not running within {READY_TIMEOUT_S} s")
                for fd, _ in events:
                    if fd == fifo and os.read(fifo, 64):
                        t_ready = stamp
                        poller.unregister(fifo)
                    elif fd == pidfd:
                        t_exit = stamp
                        poller.unregister(pidfd)
                        if proc.wait() != 0 or (not detached and t_ready is None):
                            raise BenchError(f"{' '.join(proc.args[:6])}... exited with "
                                             f"{proc.returncode} (see {self.out.name})")
            return t_ready, t_exit
        finally:
            os.close(pidfd)

    def timed_exit(self, argv):
        """Milliseconds from spawning ARGV until it exited (with 0)."""
        start = now_ns()
        proc = subprocess.Popen(argv, stdin=self.devnull, stdout=self.out, stderr=self.out)
        if proc.wait() != 0:
            raise BenchError(f"{' '.join(argv[:6])}... exited with {proc.returncode}")
        return (now_ns() - start) / 1e6

    def stragglers(self):
        """Processes other than moatd and this harness whose command line names the temp
        dir or the payload marker: a sandbox still ending, conmon, podman's cleanup."""
        return [pid for pid, p in processes().items()
                if pid not in (os.getpid(), self.moatd.pid)
                and (self.tmp in p[4] or self.marker in p[4])]

    def quiesce(self):
        """The same conditions before every timed command: what the last stop left behind
        has ended, a short pause, then a few trivial spawns, so that no method starts from a
        CPU deeper in idle than another. (On this VM a command run after 200 ms of idle took
        1-2 ms longer; and moat start, whose preparation runs the CLI, otherwise started
        warmer than bare crun.)"""
        try:
            wait_for("the last sandbox's processes to end", lambda: not self.stragglers(), 10)
        except BenchError as e:
            log(str(e))
        time.sleep(PAUSE_S)
        for _ in range(WAKE_SPAWNS):
            subprocess.run(["/bin/true"], check=True)

    def show_logs(self):
        """The end of the commands' and moatd's output, before the temp dir goes."""
        for path in (self.out.name, os.path.join(self.tmp, "moatd.log")):
            try:
                with open(path, errors="replace") as f:
                    tail = f.readlines()[-15:]
            except OSError:
                continue
            log(f"--- last lines of {os.path.basename(path)} ---")
            for line in tail:
                log("  " + line.rstrip())

    # --- setup --------------------------------------------------------------------------

    def setup(self):
        for path in (self.log_dir, os.path.join(self.tmp, "data")):
            os.makedirs(path)
        os.chmod(self.tmp, 0o755)
        os.chmod(self.run, 0o755)
        # One copy of build/rootfs-busybox that every method runs on. Podman bind-mounts
        # /etc/hostname, /etc/hosts, /etc/resolv.conf and /run/.containerenv over files it
        # creates when they are missing, which a read-only root refuses: empty ones are added.
        shutil.copytree(os.path.join(self.build, "rootfs-busybox"), self.rootfs,
                        symlinks=True)
        for path in ("etc/hostname", "etc/hosts", "etc/resolv.conf", "run/.containerenv"):
            open(os.path.join(self.rootfs, path), "w").close()
            os.chmod(os.path.join(self.rootfs, path), 0o644)

    def install(self, name, backend):
        """Install NAME for moatd the way tests/integration/lib.sh does."""
        directory = os.path.join(self.state, "sandboxes", name, "current")
        os.makedirs(directory)
        for path in (self.state, os.path.dirname(os.path.dirname(directory)),
                     os.path.dirname(directory)):
            os.chmod(path, 0o755)
        # moatd resolves current/rootfs beneath the sandbox's directory: a hard-linked copy.
        subprocess.run(["cp", "-al", self.rootfs, os.path.join(directory, "rootfs")], check=True)
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

        def answers():
            if self.moatd.poll() is not None:
                raise BenchError(f"moatd exited with {self.moatd.returncode} "
                                 f"(see {self.tmp}/moatd.log)")
            return subprocess.run(self.moat_argv("list"), stdin=self.devnull,
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL).returncode == 0

        wait_for("moatd to answer", answers)

    def stop_moatd(self):
        if self.moatd is None or self.moatd.poll() is not None:
            return
        self.moatd.terminate()
        try:
            self.moatd.wait(60)
        except subprocess.TimeoutExpired:
            self.moatd.kill()
            self.moatd.wait()

    def uid_base(self, name):
        """The host uid of NAME's root: moatd allocates it, and moat status shows it."""
        if name not in self.uid_bases:
            status = json.loads(self.moat("status", name, "--json"))
            self.uid_bases[name] = int(status["confinement"]["uid_base"])
        return self.uid_bases[name]

    def data_dir(self, path, owner):
        """PATH as a sandbox's /data, owned by its root (OWNER on the host), holding a fresh
        FIFO named ready; returns the FIFO's path."""
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chown(path, owner, owner)
        os.chmod(path, 0o700)
        ready = os.path.join(path, "ready")
        if os.path.lexists(ready):
            os.unlink(ready)
        os.mkfifo(ready, 0o600)
        os.chown(ready, owner, owner)
        return ready


# --- the four methods -------------------------------------------------------------------
# Each has prepare(name) -> FIFO path (untimed), start(name, fifo) -> timed() (timed), and
# stop(name) (untimed), and a label and a name prefix.


class Moat:
    label = "moat start (moatd, crun)"
    prefix = "bench-moat-"

    def __init__(self, bench):
        self.bench = bench
        self.installed = set()
        self.starts = 0

    def prepare(self, name):
        if name not in self.installed:
            self.bench.install(name, "crun")
            self.installed.add(name)
        path = os.path.join(self.bench.state, "sandboxes", name, "data")
        return self.bench.data_dir(path, self.bench.uid_base(name))

    def start(self, name, fifo):
        self.starts += 1
        return self.bench.timed(self.bench.moat_argv("start", name), fifo, detached=True)

    def stop(self, name):
        self.bench.moat("stop", name)

    def capture(self, name, backend):
        """Start NAME with BACKEND once through moatd (a warm-up run too); return its run
        directory and a copy of it taken while it ran, and its main process's argv."""
        if name not in self.installed:
            self.bench.install(name, backend)
            self.installed.add(name)
        fifo = self.prepare(name)
        self.start(name, fifo)
        bundle = os.path.join(self.bench.run_dir, "sandboxes", name)
        copy = os.path.join(self.bench.tmp, f"captured-{name}")
        shutil.copytree(bundle, copy, ignore=shutil.ignore_patterns("data"))
        pid = json.loads(self.bench.moat("status", name, "--json"))["pid"]
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = [a.decode() for a in f.read().split(b"\0")[:-1]]
        self.stop(name)
        return bundle, copy, cmdline


class Crun:
    """Bare crun run --detach with moatd's own config.json, only /data's source changed,
    and the same arguments moatd gives crun."""

    label = "crun run --detach (bare)"
    prefix = "bench-crun-"

    def __init__(self, bench, config, uid_base):
        self.bench = bench
        self.config = config
        self.uid_base = uid_base
        self.root = os.path.join(bench.run, "crun")
        self.running = set()

    def bundle(self, name):
        return os.path.join(self.bench.run, "bundles", name)

    def prepare(self, name):
        data = os.path.join(self.bench.tmp, "data", name)
        fifo = self.bench.data_dir(data, self.uid_base)
        bundle = self.bundle(name)
        if not os.path.isdir(bundle):
            os.makedirs(bundle, mode=0o755)
            config = json.loads(json.dumps(self.config))
            for mount in config["mounts"]:
                if mount["destination"] == "/data":
                    mount["source"] = data
            with open(os.path.join(bundle, "config.json"), "w") as f:
                json.dump(config, f)
        return fifo

    def crun_argv(self, *args):
        return ["/usr/bin/crun", "--root", self.root, "--cgroup-manager=disabled", *args]

    def start(self, name, fifo):
        self.running.add(name)
        bundle = self.bundle(name)
        return self.bench.timed(
            self.crun_argv("run", "--detach", "--pid-file", os.path.join(bundle, "pid"),
                           "--bundle", bundle, name), fifo, detached=True)

    def stop(self, name):
        pid = read_int(os.path.join(self.bundle(name), "pid"))
        self.bench.call(self.crun_argv("delete", "--force", name))
        self.running.discard(name)
        if pid:
            wait_for(f"{name} to end", lambda: not alive(pid), 10)

    def teardown(self):
        for name in list(self.running):
            self.bench.call(self.crun_argv("delete", "--force", name), check=False)


class Nspawn:
    """systemd-nspawn in the foreground with the command line moatd generates for a
    Backend=nspawn sandbox (user namespace, moat-init with the seccomp floor, --register=no,
    --keep-unit, ...), only /data's source, the seccomp file and the machine name changed."""

    label = "systemd-nspawn (moatd's command line)"
    prefix = "bench-nspawn-"

    def __init__(self, bench, cmdline, bundle, copy):
        self.bench = bench
        self.cmdline = cmdline
        self.old_data = os.path.join(bundle, "data") + ":"
        self.old_bpf = os.path.join(bundle, "seccomp.bpf") + ":"
        self.bpf = os.path.join(copy, "seccomp.bpf") + ":"
        self.uid_base = int(next(a for a in cmdline if a.startswith("--private-users="))
                            .split("=")[1].split(":")[0])
        self.procs = {}

    def prepare(self, name):
        return self.bench.data_dir(os.path.join(self.bench.tmp, "data", name), self.uid_base)

    def argv(self, name):
        data = os.path.join(self.bench.tmp, "data", name) + ":"
        argv = []
        for arg in self.cmdline:
            if arg.startswith("--machine="):
                arg = f"--machine={name}"
            argv.append(arg.replace(self.old_data, data).replace(self.old_bpf, self.bpf))
        return argv

    def start(self, name, fifo):
        result = self.bench.timed(self.argv(name), fifo, detached=False)
        self.procs[name] = result[2]
        return result

    def stop(self, name):
        proc = self.procs.pop(name)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def teardown(self):
        for name in list(self.procs):
            self.stop(name)


class Podman:
    """podman run --detach --rootfs with its closest equivalent of moat's floor, its config
    and storage in the temp dir."""

    label = "podman run --detach"
    prefix = "bench-podman-"

    def __init__(self, bench, uid_base):
        self.bench = bench
        self.uid_base = uid_base
        self.dir = os.path.join(bench.tmp, "podman")
        self.runroot = os.path.join(bench.run, "podman")
        self.running = set()
        os.makedirs(self.dir)
        conf = os.path.join(self.dir, "containers.conf")
        with open(conf, "w") as f:
            # default_ulimits: podman otherwise raises rlimits past this host's hard limit.
            f.write(f"""[containers]
default_ulimits = []
log_driver = "k8s-file"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{self.dir}/events.log"
runtime = "crun"
tmp_dir = "{bench.run}/libpod"
volume_path = "{self.dir}/volumes"
[network]
network_config_dir = "{self.dir}/net"
""")
        storage = os.path.join(self.dir, "storage.conf")
        with open(storage, "w") as f:
            f.write(f'[storage]\ndriver = "vfs"\nrunroot = "{self.runroot}"\n'
                    f'graphroot = "{self.dir}/root"\n')
        registries = os.path.join(self.dir, "registries.conf")
        open(registries, "w").close()
        self.env = dict(os.environ, CONTAINERS_CONF=conf, CONTAINERS_STORAGE_CONF=storage,
                        CONTAINERS_REGISTRIES_CONF=registries)

    def podman_argv(self, *args):
        return ["/usr/bin/podman", "--root", os.path.join(self.dir, "root"), "--runroot",
                self.runroot, "--storage-driver", "vfs", *args]

    def prepare(self, name):
        return self.bench.data_dir(os.path.join(self.bench.tmp, "data", name), self.uid_base)

    def start(self, name, fifo):
        self.running.add(name)
        data = os.path.join(self.bench.tmp, "data", name)
        argv = self.podman_argv(
            "run", "--detach", "--name", name, "--cgroups=disabled", "--network=none",
            "--read-only", "--read-only-tmpfs=false",
            "--tmpfs=/tmp:rw,nosuid,nodev,size=64m,mode=1777", "--cap-drop=all",
            "--security-opt=no-new-privileges", f"--uidmap=0:{self.uid_base}:65536",
            f"--gidmap=0:{self.uid_base}:65536", f"--volume={data}:/data", "--rootfs",
            self.bench.rootfs, "/bin/sh", "-c", PAYLOAD_SCRIPT, self.bench.marker)
        return self.bench.timed(argv, fifo, detached=True, env=self.env)

    def stop(self, name):
        self.bench.call(self.podman_argv("rm", "--force", "--time", "0", name), env=self.env)
        self.running.discard(name)

    def teardown(self):
        if self.running:
            self.bench.call(self.podman_argv("rm", "--all", "--force", "--time", "0"),
                            env=self.env, check=False)


# --- measurements -------------------------------------------------------------------------


def summary(values):
    """Median, p10 and p90."""
    if len(values) < 2:
        return (values[0],) * 3 if values else (float("nan"),) * 3
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    return statistics.median(values), deciles[0], deciles[8]


class Run:
    def __init__(self, bench):
        self.bench = bench
        self.methods = {}
        self.ready_ms, self.return_ms = {}, {}
        self.cli_exec_ms, self.cli_list_ms = [], []
        self.fleets = {}

    def setup(self):
        bench = self.bench
        moat = self.methods["moat"] = Moat(bench)
        bench.load_before = loadavg()
        bench.start_moatd()
        time.sleep(0.2)
        self.memory_fresh = memory_of(bench.moatd.pid)
        log("capturing moatd's config.json and nspawn command line")
        # Bare crun gets the config.json of the very sandbox moat start is timed on.
        name = moat.prefix + "lat"
        _, copy, _ = moat.capture(name, "crun")
        with open(os.path.join(copy, "config.json")) as f:
            config = json.load(f)
        crun_base = bench.uid_base(name)
        self.methods["crun"] = Crun(bench, config, crun_base)
        bundle, copy, cmdline = moat.capture("bench-nspawn-moat", "nspawn")
        self.methods["nspawn"] = Nspawn(bench, cmdline, bundle, copy)
        self.methods["podman"] = Podman(bench, crun_base)

    def latency(self):
        """Round-robin over the methods, WARMUP_ROUNDS + runs rounds."""
        bench = self.bench
        self.ready_ms = {key: [] for key in self.methods}
        self.return_ms = {key: [] for key in self.methods}
        total = WARMUP_ROUNDS + bench.runs
        for round_ in range(total):
            counted = round_ >= WARMUP_ROUNDS
            for key, method in self.methods.items():
                name = method.prefix + "lat"
                fifo = method.prepare(name)
                bench.quiesce()
                t_ready, t_exit, _ = method.start(name, fifo)
                method.stop(name)
                if counted:
                    self.ready_ms[key].append(t_ready)
                    if t_exit is not None:
                        self.return_ms[key].append(t_exit)
            # For the breakdown, with no sandbox: the CLI alone, and its round trip to moatd.
            bench.quiesce()
            exec_ms = bench.timed_exit(bench.moat_argv("--help"))
            bench.quiesce()
            list_ms = bench.timed_exit(bench.moat_argv("list"))
            if counted:
                self.cli_exec_ms.append(exec_ms)
                self.cli_list_ms.append(list_ms)
            if (round_ + 1) % 10 == 0:
                log(f"latency: {round_ + 1}/{total} rounds")

    def fleet(self, key):
        """Run MANY sandboxes of one method at once; count the processes they cost."""
        bench, method = self.bench, self.methods[key]
        names = [f"{method.prefix}{i:02d}" for i in range(1, MANY + 1)]
        before = processes()
        result = {}
        try:
            for name in names:
                method.start(name, method.prepare(name))
            time.sleep(1)  # let start commands and their helpers finish
            after = processes()
            own, extra = self.classify(before, after)
            if key == "moat":
                result["moatd"] = memory_of(bench.moatd.pid)
            result["own"] = len(own) / MANY
            result["extra"] = len(extra) / MANY
            result["extra_names"] = sorted({after[pid][2] for pid in extra})
            result["extra_pss"] = sum(memory_of(pid)["pss"] for pid in extra) / MANY
        finally:
            for name in names:
                try:
                    method.stop(name)
                except (BenchError, KeyError, subprocess.SubprocessError) as e:
                    log(f"stopping {name}: {e}")
        return result

    def classify(self, before, after):
        """Of the processes new in AFTER: the sandboxes' own (in the pid namespace of a
        payload), and the extra ones on the host that serve them: an ancestor of a sandbox
        process, a descendant of moatd or of this harness, or one naming the temp dir."""
        bench = self.bench
        new = {pid: p for pid, p in after.items() if before.get(pid, (None,))[0] != p[0]}
        host_ns = os.readlink("/proc/self/ns/pid")
        sandbox_ns = {p[3] for p in new.values() if bench.marker in p[4]} - {host_ns}
        own = {pid for pid, p in new.items() if p[3] in sandbox_ns}
        extra = set()
        for pid in own:
            parent = after[pid][1]
            while parent in new and parent not in own and parent not in extra:
                extra.add(parent)
                parent = after[parent][1]
        roots = {bench.moatd.pid, os.getpid()}
        for pid, p in new.items():
            if pid in own or pid in extra:
                continue
            if bench.tmp in p[4]:
                extra.add(pid)
                continue
            seen, parent = set(), p[1]
            while parent in after and parent not in seen:
                if parent in roots:
                    extra.add(pid)
                    break
                seen.add(parent)
                parent = after[parent][1]
        return own, extra

    def measure(self):
        self.setup()
        log(f"latency: {WARMUP_ROUNDS} warm-up + {self.bench.runs} rounds of "
            f"{', '.join(self.methods)}")
        self.latency()
        for key in self.methods:
            log(f"processes and memory: {MANY} sandboxes with {key}")
            self.fleets[key] = self.fleet(key)
        self.memory_after = memory_of(self.bench.moatd.pid)

    def teardown(self):
        for key in ("nspawn", "crun", "podman"):
            if key in self.methods:
                try:
                    self.methods[key].teardown()
                except Exception as e:  # keep cleaning up
                    log(f"cleanup: {key}: {e}")
        self.bench.stop_moatd()

    # --- report -------------------------------------------------------------------------

    def report(self):
        lines = []
        out = lines.append
        versions = tool_versions(self.bench)
        out(f"# Moat benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, "
            f"kernel {os.uname().release}")
        out(f"# {versions}")
        out(f"# load average (1, 5, 15 min) before: {self.bench.load_before}; after: "
            f"{loadavg()}")
        out("")
        self.report_latency(out)
        self.report_memory(out)
        self.report_processes(out)
        self.report_targets(out)
        return "\n".join(lines)

    def report_latency(self, out):
        crun = summary(self.ready_ms["crun"])[0]
        out(f"Start to running (the payload's first command has written to its /data FIFO), "
            f"ms, {self.bench.runs} runs of each, interleaved")
        out("")
        out("| method | median | p10 | p90 | ratio vs crun | command exited (median) |")
        out("|---|---:|---:|---:|---:|---:|")
        for key, method in self.methods.items():
            med, p10, p90 = summary(self.ready_ms[key])
            returned = self.return_ms[key]
            exited = f"{statistics.median(returned):.1f}" if returned else "stays (foreground)"
            out(f"| {method.label} | {med:.1f} | {p10:.1f} | {p90:.1f} | {med / crun:.2f}x | "
                f"{exited} |")
        for label, values in (("moat --help (the CLI alone: exec, link, exit)", self.cli_exec_ms),
                              ("moat list (the CLI's round trip to moatd)", self.cli_list_ms)):
            med, p10, p90 = summary(values)
            out(f"| *{label}* | {med:.1f} | {p10:.1f} | {p90:.1f} | | |")
        out("")

    def report_memory(self, out):
        rows = (("0 sandboxes (fresh)", self.memory_fresh),
                (f"{MANY} crun sandboxes running", self.fleets["moat"]["moatd"]),
                (f"0 sandboxes, after {self.methods['moat'].starts} starts and stops",
                 self.memory_after))
        out("moatd's memory")
        out("")
        out("| moatd with | VmRSS | RssAnon | Pss |")
        out("|---|---:|---:|---:|")
        for label, m in rows:
            out(f"| {label} | {mib(m['rss'])} | {mib(m['anon'])} | {mib(m['pss'])} |")
        out("")

    def report_processes(self, out):
        out(f"Processes per sandbox, {MANY} sandboxes of each running")
        out("")
        out("| method | the sandbox's own | extra on the host | which | their Pss per sandbox |")
        out("|---|---:|---:|---|---:|")
        for key, method in self.methods.items():
            f = self.fleets[key]
            which = ", ".join(f["extra_names"]) or "none"
            out(f"| {method.label} | {f['own']:g} | {f['extra']:g} | {which} | "
                f"{mib(f['extra_pss'])} |")
        out("")

    def report_targets(self, out):
        ratio = summary(self.ready_ms["moat"])[0] / summary(self.ready_ms["crun"])[0]
        rss = self.fleets["moat"]["moatd"]
        extra = self.fleets["moat"]["extra"]
        out("Targets")
        out("")
        out(f"- {verdict(ratio <= TARGET_RATIO)}: moat start within {TARGET_RATIO}x of bare "
            f"crun (median {ratio:.2f}x)")
        out(f"- {verdict(rss['rss'] < TARGET_RSS_KIB)}: moatd under 4 MiB RSS with {MANY} "
            f"sandboxes (VmRSS {mib(rss['rss'])}; Pss {mib(rss['pss'])})")
        out(f"- {verdict(extra == 0)}: 0 extra processes per crun sandbox under moatd "
            f"({extra:g})")

    def samples(self):
        return {"ready_ms": self.ready_ms, "exited_ms": self.return_ms,
                "moat_help_ms": self.cli_exec_ms, "moat_list_ms": self.cli_list_ms}


def mib(kib):
    return f"{kib / 1024:.2f} MiB"


def verdict(ok):
    return "PASS" if ok else "MISS"


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def tool_versions(bench):
    def first_line(argv):
        try:
            return bench.call(argv, check=False).splitlines()[0]
        except (OSError, IndexError):
            return "?"
    return "; ".join(first_line([tool, "--version"]) for tool in
                     ("/usr/bin/crun", "/usr/bin/systemd-nspawn", "/usr/bin/podman"))


def kill_strays(tmp):
    """After a crash: end, by pid, every process whose command line names TMP or carries the
    payload marker; moatd first, so that it can stop its sandboxes."""
    moatd = read_int(os.path.join(tmp, "moatd.pid"))
    if moatd and alive(moatd):
        os.kill(moatd, signal.SIGTERM)
        try:
            wait_for("moatd to stop", lambda: not alive(moatd), 20)
        except BenchError:
            pass
    marker = "moat-bench-payload-" + os.path.basename(tmp)
    for pid, p in processes().items():
        if pid != os.getpid() and (tmp in p[4] or marker in p[4]):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "cleanup":
        kill_strays(os.path.realpath(sys.argv[2]))
        return 0
    if len(sys.argv) != 5 or sys.argv[1] != "measure":
        print("usage: bench.py measure BUILD_DIR TMP_DIR RUNS | bench.py cleanup TMP_DIR",
              file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    bench = Bench(sys.argv[2], os.path.realpath(sys.argv[3]), int(sys.argv[4]))
    run = Run(bench)
    try:
        bench.setup()
        run.measure()
    except (BenchError, OSError, subprocess.SubprocessError) as e:
        log(f"failed: {e}")
        bench.show_logs()
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        # Finish cleaning up even when asked again to stop.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        run.teardown()
    print(run.report())
    if os.environ.get("BENCH_SAMPLES"):
        with open(os.environ["BENCH_SAMPLES"], "w") as f:
            json.dump(run.samples(), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
