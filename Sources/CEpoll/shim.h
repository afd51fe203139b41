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

// accept4 is a GNU extension the headers only declare under _GNU_SOURCE.
extern int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags);
static inline int CEpoll_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
    return accept4(fd, addr, len, flags);
}
static inline int CEpoll_errno(void) { return errno; }
static inline int CEpoll_fcntl_setfl(int fd, int flags) { return fcntl(fd, F_SETFL, flags); }
static inline int CEpoll_fcntl_getfl(int fd) { return fcntl(fd, F_GETFL); }
#endif
