/*
 * watchdog.c: the instruction budget without a per-instruction hook.
 *
 * Lua 5.4 routes every instruction through luaG_traceexec while a count
 * hook is set, which costs a rule that runs a few hundred instructions
 * more than the budget is worth. So rules start with no hook at all. One
 * thread for the process (started at the first evaluation, asleep while
 * nothing is evaluated) looks at every evaluator each WD_TICK_US. A rule
 * it sees running at two looks in a row gets its thread's CPU clock
 * read; once that thread has spent WD_CPU_NS more of CPU time with the
 * same rule still running, the watchdog sends the thread WD_SIGNAL. The
 * handler, on the rule's own thread, arms the count hook (lua_sethook is
 * safe from a signal handler: lua.c stops scripts on Ctrl-C the same
 * way) with a fresh budget and time limit; from there the sandbox's
 * sticky limits apply as before, and pcall cannot escape them.
 *
 * In effect the budget stays deterministic: a rule that uses less than
 * WD_CPU_NS of CPU is never stopped by it, however long the machine
 * keeps its thread waiting (the count starts only after), and a rule
 * that runs away is always stopped (the count always starts). The memory
 * cap and the string limit do not depend on the hook.
 *
 * Each evaluator has a sequence number, odd while one of its rules runs
 * and bumped at every rule's start and at the evaluation's end. The
 * watchdog writes the number it saw stuck into wd_want before the
 * signal; the handler arms only if that rule is still the one running
 * on its thread, so a signal that arrives late (the rule finished, the
 * thread moved on) does nothing.
 *
 * Sleeping: when no evaluator has changed or run for WD_IDLE_TICKS, the
 * watchdog sets wd_sleeping and waits on a condition. A rule's start
 * stores its sequence number and then reads wd_sleeping (both
 * sequentially consistent); the watchdog stores wd_sleeping and then
 * reads every sequence number. One of the two sees the other: either the
 * rule wakes the watchdog, or the watchdog sees the rule and stays up.
 */
#include "rules_int.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* How often the watchdog looks. */
#define WD_TICK_US 1000
/* CPU time a rule uses before its budget starts counting (at least). */
#define WD_CPU_NS 1000000
/* Ticks with nothing evaluated before the watchdog sleeps. */
#define WD_IDLE_TICKS 50
/* A rule still running this many ticks after its signal, with no hook
 * armed, is signalled again. */
#define WD_RESIGNAL_TICKS 100
/* SIGURG: ignored by default, used by nothing else here (the Go runtime
 * picked it for preemption for the same reasons). */
#define WD_SIGNAL SIGURG

static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cond = PTHREAD_COND_INITIALIZER;
static pthread_once_t wd_once = PTHREAD_ONCE_INIT;
static struct rs_eval *wd_head;    /* registered evaluators */
static int wd_started;             /* the thread runs (under wd_lock) */
static atomic_int wd_sleeping = 1; /* the thread waits (or is not up) */
static atomic_int wd_failed;       /* no thread: hooks from the start */
static struct sigaction wd_old;    /* a handler we replaced, chained */

/* The evaluator running on this thread, for the signal handler. */
static __thread struct rs_eval *wd_current;
static __thread pid_t wd_tid;
static __thread int wd_unblocked;

static void
wd_handler(int sig, siginfo_t *si, void *uc)
{
	struct rs_eval *ev = wd_current;
	int saved = errno;

	if (si != NULL && si->si_code == SI_TKILL && si->si_pid == getpid()) {
		uint64_t s;

		if (ev != NULL && ev->L != NULL && ev->broken == SB_OK) {
			s = atomic_load_explicit(&ev->wd_seq,
			                         memory_order_relaxed);
			if ((s & 1) &&
			    s == atomic_load_explicit(&ev->wd_want,
			                              memory_order_relaxed) &&
			    !atomic_load_explicit(&ev->wd_hooked,
			                          memory_order_relaxed))
				sb_arm_budget(ev);
		}
	} else if (wd_old.sa_flags & SA_SIGINFO) {
		if (wd_old.sa_sigaction != NULL)
			wd_old.sa_sigaction(sig, si, uc);
	} else if (wd_old.sa_handler != SIG_DFL &&
	           wd_old.sa_handler != SIG_IGN) {
		wd_old.sa_handler(sig);
	}
	errno = saved;
}

/* fork: the child has no watchdog thread; the next rule starts one. */
static void
wd_prefork(void)
{
	pthread_mutex_lock(&wd_lock);
}

static void
wd_postfork_parent(void)
{
	pthread_mutex_unlock(&wd_lock);
}

static void
wd_postfork_child(void)
{
	struct rs_eval *ev;

	/* evaluators the parent's other threads were running have no
	 * thread here: none of their rules runs */
	for (ev = wd_head; ev != NULL; ev = ev->wd_next) {
		uint64_t s = atomic_load(&ev->wd_seq);

		if (s & 1)
			atomic_store(&ev->wd_seq, s + 1);
	}
	wd_started = 0;
	wd_tid = 0;
	atomic_store(&wd_sleeping, 1);
	pthread_mutex_unlock(&wd_lock);
}

static void
wd_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = wd_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(WD_SIGNAL, &sa, &wd_old) != 0 ||
	    pthread_atfork(wd_prefork, wd_postfork_parent, wd_postfork_child) !=
	            0)
		atomic_store(&wd_failed, 1);
}

/* The CPU time thread tid of this process has used, or -1. The clock id
 * is the kernel's encoding of a thread's CPU clock (what glibc's
 * pthread_getcpuclockid returns): a thread that has exited reads as an
 * error, never as another process's. */
static int64_t
wd_thread_cpu(pid_t tid)
{
	clockid_t id = (clockid_t)((~(unsigned)tid) << 3) | 6;
	struct timespec ts;

	if (tid <= 0 || clock_gettime(id, &ts) != 0)
		return -1;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
wd_send(struct rs_eval *ev, uint64_t s)
{
	atomic_store(&ev->wd_want, s);
	syscall(SYS_tgkill, getpid(), atomic_load(&ev->wd_tid), WD_SIGNAL);
}

/* One look at every evaluator (wd_lock held); 1 if any ran or changed
 * since the last look. A rule seen at two looks has its thread's CPU
 * clock read; at later looks, once it has used WD_CPU_NS more, it is
 * signalled (and again every WD_RESIGNAL_TICKS while no hook is armed:
 * a signal is not lost for good). */
static int
wd_scan(void)
{
	struct rs_eval *ev;
	int busy = 0;

	for (ev = wd_head; ev != NULL; ev = ev->wd_next) {
		uint64_t s = atomic_load(&ev->wd_seq);
		int64_t cpu;

		if (s != ev->wd_seen) {
			ev->wd_seen = s;
			ev->wd_phase = 0;
			busy = 1;
			continue;
		}
		if (!(s & 1))
			continue;
		busy = 1;
		switch (ev->wd_phase) {
		case 0:
			ev->wd_cpu0 = wd_thread_cpu(atomic_load(&ev->wd_tid));
			if (ev->wd_cpu0 >= 0)
				ev->wd_phase = 1;
			break;
		case 1:
			cpu = wd_thread_cpu(atomic_load(&ev->wd_tid));
			if (cpu >= 0 && cpu - ev->wd_cpu0 >= WD_CPU_NS) {
				wd_send(ev, s);
				ev->wd_phase = 2;
				ev->wd_ticks = 0;
			}
			break;
		default:
			if (++ev->wd_ticks % WD_RESIGNAL_TICKS == 0 &&
			    !atomic_load(&ev->wd_hooked))
				wd_send(ev, s);
		}
	}
	return busy;
}

/* Whether a rule runs or ran since the last look, without counting. */
static int
wd_any(void)
{
	struct rs_eval *ev;

	for (ev = wd_head; ev != NULL; ev = ev->wd_next) {
		uint64_t s = atomic_load(&ev->wd_seq);

		if (s != ev->wd_seen || (s & 1))
			return 1;
	}
	return 0;
}

static void *
wd_main(void *arg)
{
	struct timespec tick = {0, WD_TICK_US * 1000L};
	sigset_t all;
	int idle = 0;

	(void)arg;
	/* signals for the process go to the threads that wait for them */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_mutex_lock(&wd_lock);
	for (;;) {
		idle = wd_scan() ? 0 : idle + 1;
		if (idle >= WD_IDLE_TICKS) {
			atomic_store(&wd_sleeping, 1);
			if (wd_any())
				atomic_store(&wd_sleeping, 0);
			while (atomic_load(&wd_sleeping))
				pthread_cond_wait(&wd_cond, &wd_lock);
			idle = 0;
		}
		pthread_mutex_unlock(&wd_lock);
		nanosleep(&tick, NULL);
		pthread_mutex_lock(&wd_lock);
	}
	return NULL;
}

/* Wakes (or first starts) the watchdog; -1 if it cannot run. */
static int
wd_wake(void)
{
	int rc = 0;

	pthread_mutex_lock(&wd_lock);
	if (!wd_started) {
		pthread_attr_t a;
		pthread_t t;

		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		/* it calls little, but sanitizers need room */
		pthread_attr_setstacksize(&a, 256u << 10);
		if (pthread_create(&t, &a, wd_main, NULL) == 0)
			wd_started = 1;
		else
			rc = -1;
		pthread_attr_destroy(&a);
	}
	if (rc == 0) {
		atomic_store(&wd_sleeping, 0);
		pthread_cond_signal(&wd_cond);
	}
	pthread_mutex_unlock(&wd_lock);
	return rc;
}

void
wd_register(struct rs_eval *ev)
{
	pthread_once(&wd_once, wd_init);
	if (atomic_load(&wd_failed))
		return;
	pthread_mutex_lock(&wd_lock);
	ev->wd_prev = NULL;
	ev->wd_next = wd_head;
	if (wd_head != NULL)
		wd_head->wd_prev = ev;
	wd_head = ev;
	ev->wd_seen = atomic_load(&ev->wd_seq);
	ev->wd_on = 1;
	pthread_mutex_unlock(&wd_lock);
}

void
wd_unregister(struct rs_eval *ev)
{
	if (!ev->wd_on)
		return;
	pthread_mutex_lock(&wd_lock);
	if (ev->wd_prev != NULL)
		ev->wd_prev->wd_next = ev->wd_next;
	else
		wd_head = ev->wd_next;
	if (ev->wd_next != NULL)
		ev->wd_next->wd_prev = ev->wd_prev;
	ev->wd_on = 0;
	pthread_mutex_unlock(&wd_lock);
}

void
wd_enter(struct rs_eval *ev)
{
	if (wd_tid == 0)
		wd_tid = (pid_t)syscall(SYS_gettid);
	if (!wd_unblocked) {
		/* a thread that blocks every signal (a pool's) still takes
		 * ours */
		sigset_t s;

		sigemptyset(&s);
		sigaddset(&s, WD_SIGNAL);
		pthread_sigmask(SIG_UNBLOCK, &s, NULL);
		wd_unblocked = 1;
	}
	atomic_store_explicit(&ev->wd_tid, wd_tid, memory_order_relaxed);
	wd_current = ev;
}

/* Clears a hook armed for the rule before (the hook flag first: a
 * signal in between arms a fresh budget, which is harmless). */
static void
wd_unhook(struct rs_eval *ev)
{
	if (atomic_load_explicit(&ev->wd_hooked, memory_order_relaxed)) {
		atomic_store_explicit(&ev->wd_hooked, 0, memory_order_relaxed);
		atomic_signal_fence(memory_order_seq_cst);
		lua_sethook(ev->L, NULL, 0, 0);
	}
}

void
wd_rule(struct rs_eval *ev)
{
	uint64_t s;

	wd_unhook(ev);
	ev->budget = ev->lim.instructions;
	if (!ev->wd_on ||
	    atomic_load_explicit(&wd_failed, memory_order_relaxed)) {
		sb_arm_budget(ev);
		return;
	}
	s = atomic_load_explicit(&ev->wd_seq, memory_order_relaxed);
	atomic_store(&ev->wd_seq, (s + 1) | 1);
	if (atomic_load(&wd_sleeping) && wd_wake() != 0) {
		/* no watchdog: this rule and every later one count from
		 * their first instruction */
		atomic_store(&wd_failed, 1);
		sb_arm_budget(ev);
	}
}

void
wd_leave(struct rs_eval *ev)
{
	uint64_t s = atomic_load_explicit(&ev->wd_seq, memory_order_relaxed);

	if (s & 1)
		atomic_store_explicit(&ev->wd_seq, s + 1, memory_order_release);
	if (ev->L != NULL)
		wd_unhook(ev);
	else
		atomic_store_explicit(&ev->wd_hooked, 0, memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst);
	wd_current = NULL;
}
