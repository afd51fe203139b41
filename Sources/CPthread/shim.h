// POSIX thread calls that Swift's Glibc module does not export.
#ifndef CPTHREAD_SHIM_H
#define CPTHREAD_SHIM_H
#include <pthread.h>

// pthread_setname_np is a GNU extension the headers only declare under _GNU_SOURCE.
// Returns 0, or ERANGE when the name is longer than 15 bytes.
extern int pthread_setname_np(pthread_t thread, const char *name);
static inline int CPthread_setname(pthread_t thread, const char *name) {
    return pthread_setname_np(thread, name);
}
#endif
