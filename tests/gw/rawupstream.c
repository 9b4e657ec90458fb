/* rawupstream.c - a stand-in model server that misbehaves at the HTTP layer, for the gateway's
 * upstream client tests. It writes its answers byte by byte on a raw socket, so it can send
 * what no HTTP library would: the framing of HTTP/1.1 (RFC 9112: status line, header fields,
 * Content-Length, chunked transfer coding) followed or broken on purpose, and the body an
 * OpenAI chat completion (platform.openai.com/docs/api-reference/chat, 2024-2025).
 * The first path segment of each request names the answer: POST /<mode>/v1/chat/completions.
 * Prints its port on stdout; one process per connection (fork), kept alive until the client
 * closes it. Modes: see answer() below. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static const char COMPLETION[] =
   "{\"id\":\"chatcmpl-raw\",\"object\":\"chat.completion\",\"created\":0,\"model\":\"raw\","
   "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"raw-ok\"},"
   "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}";

static void put(int fd, const char *p, size_t n) {
   while (n) {
      ssize_t w = write(fd, p, n);
      if (w <= 0)
         _exit(0);
      p += w;
      n -= (size_t)w;
   }
}

static void puts_(int fd, const char *s) {
   put(fd, s, strlen(s));
}

static void ok_head(int fd, const char *extra, size_t len) {
   char h[512];
   snprintf(h, sizeof h, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n%sContent-Length: %zu\r\n\r\n",
            extra, len);
   puts_(fd, h);
}

/* Answers one request; returns 0 to close the connection after it. */
static int answer(int fd, const char *mode) {
   size_t n = strlen(COMPLETION);
   char buf[1024];
   if (strcmp(mode, "ok") == 0) {
      ok_head(fd, "", n);
      put(fd, COMPLETION, n);
   } else if (strcmp(mode, "lf") == 0) {
      /* Bare LF line ends, which RFC 9112 2.2 lets a recipient accept. */
      snprintf(buf, sizeof buf, "HTTP/1.1 200 OK\nContent-Type: application/json\nContent-Length: %zu\n\n", n);
      puts_(fd, buf);
      put(fd, COMPLETION, n);
   } else if (strcmp(mode, "chunked") == 0) {
      /* Chunks with an extension and a trailer, one byte split across writes. */
      puts_(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
      snprintf(buf, sizeof buf, "%zx;ext=1\r\n", n / 2);
      puts_(fd, buf);
      put(fd, COMPLETION, n / 2);
      puts_(fd, "\r\n");
      usleep(20000);
      snprintf(buf, sizeof buf, "%zX\r\n", n - n / 2);
      puts_(fd, buf);
      put(fd, COMPLETION + n / 2, n - n / 2);
      puts_(fd, "\r\n0\r\nX-Trailer: t\r\n\r\n");
   } else if (strcmp(mode, "continue") == 0) {
      puts_(fd, "HTTP/1.1 100 Continue\r\n\r\n");
      ok_head(fd, "", n);
      put(fd, COMPLETION, n);
   } else if (strcmp(mode, "close") == 0) {
      /* No length: the body ends with the connection (HTTP/1.0 style). */
      puts_(fd, "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n");
      put(fd, COMPLETION, n);
      return 0;
   } else if (strcmp(mode, "garbage") == 0) {
      puts_(fd, "SSH-2.0-OpenSSH_9.2\r\n\r\n");
      return 0;
   } else if (strcmp(mode, "empty") == 0) {
      return 0;
   } else if (strcmp(mode, "hugehdr") == 0) {
      puts_(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n");
      memset(buf, 'a', sizeof buf);
      for (int i = 0; i < 1100; i++) {
         puts_(fd, "X-Big: ");
         put(fd, buf, sizeof buf);
         puts_(fd, "\r\n");
      }
      snprintf(buf, sizeof buf, "Content-Length: %zu\r\n\r\n", n);
      puts_(fd, buf);
      put(fd, COMPLETION, n);
   } else if (strcmp(mode, "chunkovf") == 0) {
      puts_(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                "1000000000000000a\r\n");
      put(fd, COMPLETION, n);
      return 0;
   } else if (strcmp(mode, "chunkbad") == 0) {
      puts_(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                "-5\r\nhello\r\n0\r\n\r\n");
      return 0;
   } else if (strcmp(mode, "clbad") == 0) {
      puts_(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 99999999999999999999999\r\n\r\n");
      put(fd, COMPLETION, n);
      return 0;
   } else if (strcmp(mode, "midbody") == 0) {
      ok_head(fd, "", n + 500);
      put(fd, COMPLETION, n / 2);
      return 0;
   } else if (strcmp(mode, "midchunk") == 0) {
      puts_(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
      snprintf(buf, sizeof buf, "%zx\r\n", n);
      puts_(fd, buf);
      put(fd, COMPLETION, n / 2);
      return 0;
   } else if (strcmp(mode, "midhead") == 0) {
      puts_(fd, "HTTP/1.1 200 OK\r\nContent-Type: applic");
      return 0;
   } else if (strcmp(mode, "trickle") == 0) {
      /* One byte every 100 ms: a total deadline must end it, however the bytes keep coming. */
      char h[256];
      snprintf(h, sizeof h, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n", n);
      for (const char *p = h; *p; p++) {
         put(fd, p, 1);
         usleep(100000);
      }
      for (size_t i = 0; i < n; i++) {
         put(fd, COMPLETION + i, 1);
         usleep(100000);
      }
   } else if (strcmp(mode, "nonutf8") == 0) {
      /* Bytes that are not UTF-8 in the reason, a header and the answer's text. */
      static const char body[] =
         "{\"id\":\"x\",\"object\":\"chat.completion\",\"created\":0,\"model\":\"raw\",\"choices\":[{\"index\":0,"
         "\"message\":{\"role\":\"assistant\",\"content\":\"bad\xff\xfe bytes\"},\"finish_reason\":\"stop\"}]}";
      snprintf(buf, sizeof buf, "HTTP/1.1 200 Fine\xff\r\nContent-Type: application/json\r\nx-request-id: r\xc3\x28"
               "\r\nContent-Length: %zu\r\n\r\n", sizeof body - 1);
      puts_(fd, buf);
      put(fd, body, sizeof body - 1);
   } else if (strcmp(mode, "ctlhdr") == 0) {
      /* A control byte (ESC) inside a header value. */
      snprintf(buf, sizeof buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Evil: a\033b\r\n"
               "Content-Length: %zu\r\n\r\n", n);
      puts_(fd, buf);
      put(fd, COMPLETION, n);
   } else if (strcmp(mode, "sse") == 0) {
      /* A streamed answer, chunked, one event per chunk. */
      puts_(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
      for (int i = 0; i < 4; i++) {
         char ev[512];
         int el = snprintf(ev, sizeof ev,
                           "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"raw\","
                           "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"p%d\"},\"finish_reason\":null}]}\n\n",
                           i);
         snprintf(buf, sizeof buf, "%x\r\n", el);
         puts_(fd, buf);
         put(fd, ev, (size_t)el);
         puts_(fd, "\r\n");
         usleep(30000);
      }
      puts_(fd, "e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n");
   } else if (strcmp(mode, "nocolon") == 0) {
      snprintf(buf, sizeof buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nthis line has no colon\r\n"
               "Content-Length: %zu\r\n\r\n", n);
      puts_(fd, buf);
      put(fd, COMPLETION, n);
   } else if (strcmp(mode, "okclose") == 0) {
      /* Kept alive by the headers, then closed anyway: the next call must not fail for it. */
      ok_head(fd, "", n);
      put(fd, COMPLETION, n);
      return 0;
   } else if (strcmp(mode, "status500") == 0) {
      static const char body[] = "{\"error\":{\"message\":\"raw failure\",\"type\":\"server_error\"}}";
      snprintf(buf, sizeof buf, "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
               "Retry-After: 7\r\nContent-Length: %zu\r\n\r\n", sizeof body - 1);
      puts_(fd, buf);
      put(fd, body, sizeof body - 1);
   } else {
      puts_(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
   }
   return 1;
}

/* Reads one request (head and Content-Length body); 0 at the end of the connection. */
static int read_request(int fd, char *mode, size_t modesz) {
   static char buf[1 << 20];
   size_t len = 0;
   char *end = NULL;
   while (!end) {
      if (len == sizeof buf - 1)
         return 0;
      ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
      if (r <= 0)
         return 0;
      len += (size_t)r;
      buf[len] = '\0';
      end = strstr(buf, "\r\n\r\n");
   }
   size_t head = (size_t)(end + 4 - buf);
   const char *cl = strcasestr(buf, "\r\nContent-Length:");
   size_t want = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
   while (len - head < want) {
      ssize_t r = read(fd, buf, sizeof buf < want ? sizeof buf : want);
      if (r <= 0)
         return 0;
      want -= (size_t)r;
   }
   /* "POST /mode/..." */
   const char *p = strchr(buf, ' ');
   if (!p || p[1] != '/')
      return 0;
   p += 2;
   size_t m = strcspn(p, "/ ");
   if (m >= modesz)
      m = modesz - 1;
   memcpy(mode, p, m);
   mode[m] = '\0';
   return 1;
}

int main(void) {
   signal(SIGCHLD, SIG_IGN);
   signal(SIGPIPE, SIG_IGN);
   int s = socket(AF_INET, SOCK_STREAM, 0);
   int one = 1;
   setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
   struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
   socklen_t al = sizeof a;
   if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 64) != 0 ||
       getsockname(s, (struct sockaddr *)&a, &al) != 0) {
      perror("rawupstream");
      return 1;
   }
   printf("%d\n", ntohs(a.sin_port));
   fflush(stdout);
   for (;;) {
      int fd = accept(s, NULL, NULL);
      if (fd < 0)
         continue;
      if (fork() == 0) {
         close(s);
         alarm(60);   /* never outlives its test */
         char mode[32];
         while (read_request(fd, mode, sizeof mode) && answer(fd, mode))
            ;
         close(fd);
         _exit(0);
      }
      close(fd);
   }
}
