/*
 * grpc_absl: switch off abseil's mutex deadlock detection in a gRPC process.
 *
 * Debian's abseil is built without NDEBUG, which leaves absl::Mutex's
 * deadlock detection on: every lock gRPC core takes (several per call)
 * also looks itself up in one process-wide lock graph, behind a global
 * spin lock.  A release build of abseil has it off.  In a profile of
 * scripts/loadtest --distinct (server and client on two cores) the lock
 * graph alone took 1% of all CPU, two thirds of it in the client.  The
 * switch is a C++ function, looked up by its mangled name: a build against
 * another abseil keeps its default.
 */
#ifndef EDSMOD_GRPC_ABSL_H
#define EDSMOD_GRPC_ABSL_H

#include <dlfcn.h>

static inline void grpc_absl_deadlock_detection_off(void)
{
	static const char *const names[] = {
		/* absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle): Debian's
		 * inline namespace, then abseil's own without one */
		"_ZN4absl7debian329SetMutexDeadlockDetectionModeENS0_15OnDeadlockCycleE",
		"_ZN4absl29SetMutexDeadlockDetectionModeENS_15OnDeadlockCycleE",
	};
	for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
		void (*set)(int);
		*(void **)&set = dlsym(RTLD_DEFAULT, names[i]);
		if (set) {
			set(0); /* OnDeadlockCycle::kIgnore */
			return;
		}
	}
}

#endif
