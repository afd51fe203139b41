// Linux event APIs that Swift's Glibc module does not export.
#ifndef CEPOLL_SHIM_H
#define CEPOLL_SHIM_H
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <errno.h>

static inline int CEpoll_errno(void) { return errno; }
static inline int CEpoll_fcntl_setfl(int fd, int flags) { return fcntl(fd, F_SETFL, flags); }
static inline int CEpoll_fcntl_getfl(int fd) { return fcntl(fd, F_GETFL); }
#endif
