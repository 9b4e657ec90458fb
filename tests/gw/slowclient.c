/* slowclient.c - the clients a server's limits exist for, for the front-end tests: N connections
 * to 127.0.0.1:PORT that each either trickle a request one byte per interval (slowloris, or a
 * slow body after whole headers), stay idle, or send one request and keep the connection. It
 * runs until the server has closed every connection or --max-secs pass, then prints one line:
 *   opened N closed N max_close_s X answered N statuses 431:0,503:2,... bytes_sent N
 * (closed = closed by the server; max_close_s = the latest close, seconds from the start). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
   int fd;
   size_t sent;
   bool closed;
   double closed_at;
   char resp[64];
   size_t rlen;
} Conn;

static double now(void) {
   struct timespec ts;
   clock_gettime(CLOCK_MONOTONIC, &ts);
   return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
   int port = 0, n = 10;
   double interval = 1, max_secs = 30;
   const char *mode = "header";
   static const struct option opts[] = {
      { "port", required_argument, NULL, 'p' },      { "conns", required_argument, NULL, 'n' },
      { "interval", required_argument, NULL, 'i' },  { "max-secs", required_argument, NULL, 'm' },
      { "mode", required_argument, NULL, 'M' },      { 0 },
   };
   int c;
   while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      switch (c) {
      case 'p': port = atoi(optarg); break;
      case 'n': n = atoi(optarg); break;
      case 'i': interval = atof(optarg); break;
      case 'm': max_secs = atof(optarg); break;
      case 'M': mode = optarg; break;
      default:
         fprintf(stderr, "usage: slowclient --port P [--conns N] [--interval S] [--max-secs S] "
                         "[--mode header|body|idle|request]\n");
         return 2;
      }
   }
   /* header: a request whose headers never end; body: whole headers, then a 10 KB body a byte at
    * a time; idle: nothing; request: one whole request, then wait. */
   static char header[8192];
   snprintf(header, sizeof header, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
   size_t hlen = strlen(header);
   for (size_t i = hlen; i < sizeof header - 1; i++)
      header[i] = "X-Slow-Header: a\r\n"[(i - hlen) % 18];
   header[sizeof header - 1] = 0;
   const char *body_head = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                           "application/json\r\nContent-Length: 10000\r\n\r\n";
   const char *request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
   bool idle = strcmp(mode, "idle") == 0, body = strcmp(mode, "body") == 0, whole = strcmp(mode, "request") == 0;

   Conn *cs = calloc((size_t)n, sizeof *cs);
   struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
   inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
   double t0 = now();
   int opened = 0;
   size_t bytes = 0;
   for (int i = 0; i < n; i++) {
      cs[i].fd = socket(AF_INET, SOCK_STREAM, 0);
      if (cs[i].fd < 0 || connect(cs[i].fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
         if (cs[i].fd >= 0)
            close(cs[i].fd);
         cs[i].fd = -1;
         cs[i].closed = true;
         cs[i].closed_at = now() - t0;
         continue;
      }
      fcntl(cs[i].fd, F_SETFL, O_NONBLOCK);
      opened++;
      const char *first = body ? body_head : whole ? request : NULL;
      if (first) {
         ssize_t w = send(cs[i].fd, first, strlen(first), MSG_NOSIGNAL);
         if (w > 0)
            bytes += (size_t)w;
      }
   }
   struct pollfd *pf = calloc((size_t)n, sizeof *pf);
   double next_send = now();
   for (;;) {
      int open = 0;
      for (int i = 0; i < n; i++)
         open += !cs[i].closed;
      double t = now();
      if (open == 0 || t - t0 >= max_secs)
         break;
      if (!idle && !whole && t >= next_send) {
         for (int i = 0; i < n; i++) {
            if (cs[i].closed)
               continue;
            char b = body ? 'a' : header[cs[i].sent % (sizeof header - 1)];
            if (send(cs[i].fd, &b, 1, MSG_NOSIGNAL) == 1) {
               cs[i].sent++;
               bytes++;
            }
         }
         next_send = t + interval;
      }
      for (int i = 0; i < n; i++) {
         pf[i].fd = cs[i].closed ? -1 : cs[i].fd;
         pf[i].events = POLLIN;
         pf[i].revents = 0;
      }
      int wait_ms = (int)((idle || whole ? 0.1 : (next_send - now() > 0 ? next_send - now() : 0)) * 1000);
      if (poll(pf, (nfds_t)n, wait_ms < 1 ? 1 : wait_ms > 100 ? 100 : wait_ms) < 0 && errno != EINTR)
         break;
      for (int i = 0; i < n; i++) {
         if (cs[i].closed || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
         char buf[4096];
         ssize_t r = recv(cs[i].fd, buf, sizeof buf, 0);
         if (r > 0) {
            size_t k = (size_t)r < sizeof cs[i].resp - 1 - cs[i].rlen ? (size_t)r : sizeof cs[i].resp - 1 - cs[i].rlen;
            memcpy(cs[i].resp + cs[i].rlen, buf, k);
            cs[i].rlen += k;
            continue;
         }
         if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
         cs[i].closed = true;
         cs[i].closed_at = now() - t0;
         close(cs[i].fd);
      }
   }
   int closed = 0, answered = 0;
   double max_close = 0;
   int codes[600] = { 0 };
   for (int i = 0; i < n; i++) {
      if (cs[i].closed && cs[i].fd >= 0) {
         closed++;
         if (cs[i].closed_at > max_close)
            max_close = cs[i].closed_at;
      }
      int code;
      if (cs[i].rlen >= 12 && sscanf(cs[i].resp, "HTTP/1.%*d %d", &code) == 1 && code >= 100 && code < 600) {
         answered++;
         codes[code]++;
      }
      if (!cs[i].closed)
         close(cs[i].fd);
   }
   printf("opened %d closed %d max_close_s %.2f answered %d statuses ", opened, closed, max_close, answered);
   const char *sep = "";
   for (int k = 100; k < 600; k++) {
      if (codes[k]) {
         printf("%s%d:%d", sep, k, codes[k]);
         sep = ",";
      }
   }
   printf("%s bytes_sent %zu\n", *sep ? "" : "-", bytes);
   free(cs);
   free(pf);
   return 0;
}
