/*
 * loadgen.c - a small epoll HTTP/1.1 load client for fql-sim (bench/sim and the concurrency
 * test). It keeps C connections to 127.0.0.1:PORT busy with one request at a time each
 * (keep-alive), for D seconds or until N answers, and prints one JSON line:
 *   {"connections":C,"requests":N,"ok":K,"errors":E,"seconds":S,"rps":R,"status":{"200":K,...}}
 *
 * usage: sim-loadgen -p PORT [-c CONNS] [-d SECONDS] [-n REQUESTS] [-k KEY] [--path P] [--body JSON]
 *        [--once]   (--once: open every connection first, then send one request on each)
 * It only ever connects to 127.0.0.1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct Conn {
    int fd;
    int connected;
    size_t woff;          /* bytes of the request written */
    char *rbuf;
    size_t rlen, rcap;
    int sent;             /* a request is in flight */
    int done;             /* --once: answered */
} Conn;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *req;
static size_t req_len;
static long status_count[600];
static long n_ok, n_err, n_sent;

/* Opens a non-blocking connection to 127.0.0.1:port; returns the fd or -1. */
static int open_conn(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) { close(fd); return -1; }
    return fd;
}

/* Returns the length of a complete response at the start of c's buffer (and its status), or 0. */
static size_t complete_response(Conn *c, int *status)
{
    if (c->rlen < 12) return 0;
    char *hend = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
    if (!hend) return 0;
    size_t hlen = (size_t)(hend - c->rbuf) + 4;
    *status = atoi(c->rbuf + 9);
    long clen = 0;
    for (char *p = c->rbuf; p < hend; p++) {
        if ((*p == '\n') && strncasecmp(p + 1, "content-length:", 15) == 0) { clen = atol(p + 16); break; }
    }
    if (c->rlen < hlen + (size_t)clen) return 0;
    return hlen + (size_t)clen;
}

int main(int argc, char **argv)
{
    int port = 0, conns = 200, once = 0;
    double dur = 5;
    long limit = 0;
    const char *key = "sk-bench", *path = "/v1/chat/completions";
    const char *body = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Say hello to the benchmark\"}]}";
    static const struct option opts[] = {
        {"path", required_argument, 0, 1}, {"body", required_argument, 0, 2}, {"once", no_argument, 0, 3}, {0, 0, 0, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "p:c:d:n:k:", opts, NULL)) != -1) {
        switch (o) {
        case 'p': port = atoi(optarg); break;
        case 'c': conns = atoi(optarg); break;
        case 'd': dur = atof(optarg); break;
        case 'n': limit = atol(optarg); break;
        case 'k': key = optarg; break;
        case 1: path = optarg; break;
        case 2: body = optarg; break;
        case 3: once = 1; break;
        default: fprintf(stderr, "usage: sim-loadgen -p PORT [-c CONNS] [-d SECONDS] [-n REQUESTS] [--once]\n"); return 2;
        }
    }
    if (port <= 0 || conns <= 0) { fprintf(stderr, "sim-loadgen: need -p PORT and -c > 0\n"); return 2; }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }
    req_len = (size_t)asprintf(&req, "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
                               "x-api-key: %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                               path, port, key, key, strlen(body), body);
    if (strncmp(path, "/v1/messages", 12) != 0) {   /* x-api-key only for Anthropic paths */
        free(req);
        req_len = (size_t)asprintf(&req, "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
                                   "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                                   path, port, key, strlen(body), body);
    }
    int ep = epoll_create1(0);
    Conn *cs = calloc((size_t)conns, sizeof *cs);
    for (int i = 0; i < conns; i++) {
        cs[i].fd = open_conn(port);
        if (cs[i].fd < 0) { n_err++; cs[i].done = 1; continue; }
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    }
    double t0 = now_s(), deadline = t0 + dur;
    int all_connected = 0;
    long open_left = 0;
    for (int i = 0; i < conns; i++) if (cs[i].fd >= 0) open_left++;
    struct epoll_event evs[512];
    while (open_left > 0) {
        double t = now_s();
        if (t >= deadline + (once ? 60 : 0)) break;
        if (!once && limit && n_ok + n_err >= limit) break;
        int n = epoll_wait(ep, evs, 512, 50);
        if (once && !all_connected) {   /* send only when every connection is open */
            int k = 0;
            for (int i = 0; i < conns; i++) if (cs[i].fd < 0 || cs[i].connected) k++;
            all_connected = k == conns;
        }
        for (int e = 0; e < n; e++) {
            Conn *c = &cs[evs[e].data.u32];
            if (c->fd < 0) continue;
            int drop = 0;
            if (!c->connected && (evs[e].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
                int err = 0;
                socklen_t el = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err) drop = 1;
                else c->connected = 1;
            }
            if (!drop && c->connected && !c->sent && !c->done && (!once || all_connected) &&
                (!limit || n_sent < limit) && now_s() < deadline + (once ? 60 : 0)) {
                c->sent = 1;
                c->woff = 0;
                n_sent++;
            }
            if (!drop && c->sent && c->woff < req_len) {
                ssize_t w = write(c->fd, req + c->woff, req_len - c->woff);
                if (w > 0) c->woff += (size_t)w;
                else if (w < 0 && errno != EAGAIN) drop = 1;
            }
            if (!drop && (evs[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
                for (;;) {
                    if (c->rcap - c->rlen < 65536) {
                        c->rcap = c->rcap ? c->rcap * 2 : 131072;
                        c->rbuf = realloc(c->rbuf, c->rcap);
                    }
                    ssize_t r = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
                    if (r > 0) { c->rlen += (size_t)r; continue; }
                    if (r == 0 || errno != EAGAIN) drop = 1;
                    break;
                }
                int st;
                size_t len;
                while ((len = complete_response(c, &st)) > 0) {
                    memmove(c->rbuf, c->rbuf + len, c->rlen - len);
                    c->rlen -= len;
                    if (st >= 0 && st < 600) status_count[st]++;
                    if (st == 200) n_ok++;
                    else n_err++;
                    c->sent = 0;
                    if (once) c->done = 1;
                }
            }
            if (drop || (once && c->done)) {
                if (drop && c->sent) n_err++;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->fd = -1;
                open_left--;
                continue;
            }
            /* keep the loop turning for connections waiting to send */
            uint32_t want = EPOLLIN | ((c->sent && c->woff < req_len) || (!c->sent && !c->done) ? EPOLLOUT : 0);
            struct epoll_event ev = {.events = want, .data.u32 = evs[e].data.u32};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        }
    }
    double secs = now_s() - t0;
    for (int i = 0; i < conns; i++) {
        if (cs[i].fd >= 0) { if (cs[i].sent && once) n_err++; close(cs[i].fd); }   /* cut off by the clock: not an error */
        free(cs[i].rbuf);
    }
    printf("{\"connections\":%d,\"requests\":%ld,\"ok\":%ld,\"errors\":%ld,\"seconds\":%.3f,\"rps\":%.0f,\"status\":{",
           conns, n_ok + n_err, n_ok, n_err, secs, secs > 0 ? (double)n_ok / secs : 0.0);
    int first = 1;
    for (int s = 0; s < 600; s++)
        if (status_count[s]) { printf("%s\"%d\":%ld", first ? "" : ",", s, status_count[s]); first = 0; }
    printf("}}\n");
    free(cs);
    free(req);
    close(ep);
    return n_err ? 1 : 0;
}
