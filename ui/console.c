/* console.c - the console's main loop: the view stack, the title and status bars, the message
 * area (wrapped, every message kept in a log L shows), the ':' commands (one table) and the
 * '/' filter, resize handling, Esc that never quits, quitting that asks while services run,
 * Ctrl-C (exit 130), and the headless script mode used by the screen tests (OFFRAMP_SCRIPT=file:
 * keys and ':' commands in, ':save-display FILE' dumps the screen). */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <time.h>
#include <sys/wait.h>
#include <limits.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "cli/cli.h"
#include "common/mdview.h"
#include "common/util.h"
#include "console.h"
#include "control/dataset.h"
#include "control/gwadmin.h"
#include "control/phase.h"
#include "control/runbook.h"
#include "control/task.h"
#include <unistd.h>

#define MIN_COLS 60
#define MIN_LINES 16
#define MAX_VIEWS 16
#define MAX_LOG 500

/* Ctrl-C (or SIGTERM): the console leaves (services stopped, terminal restored) and exits
 * 128 + the signal, 130 for Ctrl-C, as a shell reports a program that Ctrl-C ended. */
static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig) {
   interrupted = sig;
}

typedef struct {
   char ts[16];
   char *text;
   int repeat;
} LogEntry;

static struct {
   Store *st;
   View views[MAX_VIEWS];
   int nviews;
   char message[2048];
   LogEntry *log;     /* every message, oldest first (L shows them) */
   int nlog;
   bool quit;
   int cols;          /* the width the top view was last laid out for */
   /* headless */
   FILE *script;
   int script_line;
   int *pending;      /* keys parsed from the current script line */
   int npending, ipending;
   SCREEN *screen;
   DemoEnv *demo;     /* the demo's services, or NULL */
   /* A ':' command's work in the background (an evaluation, a route change), one at a time. */
   Service bg;
   char bg_label[96];
   bool bg_ended;     /* it ended since the last screen: redraw before waiting for keys */
} con;

Store *Console_store(void) {
   return con.st;
}

void Console_message(const char *fmt, ...) {
   va_list ap;
   va_start(ap, fmt);
   vsnprintf(con.message, sizeof con.message, fmt, ap);
   va_end(ap);
   if (!con.message[0])
      return;
   LogEntry *last = con.nlog ? &con.log[con.nlog - 1] : NULL;
   if (last && str_eq(last->text, con.message)) {
      last->repeat++;
      return;
   }
   if (con.nlog == MAX_LOG) {
      free(con.log[0].text);
      memmove(con.log, con.log + 1, (MAX_LOG - 1) * sizeof *con.log);
      con.nlog--;
   }
   con.log = xrealloc(con.log, (size_t)(con.nlog + 1) * sizeof *con.log);
   LogEntry *e = &con.log[con.nlog++];
   time_t now = time(NULL);
   struct tm tm;
   localtime_r(&now, &tm);
   strftime(e->ts, sizeof e->ts, "%H:%M:%S", &tm);
   e->text = xstrdup(con.message);
   e->repeat = 1;
}

int Console_log_count(void) {
   return con.nlog;
}

const char *Console_log_entry(int i, const char **ts, int *repeat) {
   *ts = con.log[i].ts;
   *repeat = con.log[i].repeat;
   return con.log[i].text;
}

static View *top_view(void) {
   return con.nviews ? &con.views[con.nviews - 1] : NULL;
}

void Console_open_view(const ViewOps *ops, const char *arg, const char *arg2) {
   /* Re-opening a view that is already on the stack returns to it. */
   for (int i = 0; i < con.nviews; i++) {
      View *v = &con.views[i];
      if (v->ops == ops && str_eq(v->arg ? v->arg : "", arg ? arg : "")) {
         while (con.nviews > i + 1) {
            View *t = &con.views[--con.nviews];
            t->ops->done(t);
            free(t->arg);
            free(t->arg2);
         }
         if (arg2 && !str_eq(v->arg2, arg2)) {
            free(v->arg2);
            v->arg2 = xstrdup(arg2);
         }
         v->ops->open(v);
         return;
      }
   }
   if (con.nviews == MAX_VIEWS) {
      Console_message("too many views open: close some with q");
      return;
   }
   View *v = &con.views[con.nviews++];
   memset(v, 0, sizeof *v);
   v->ops = ops;
   v->arg = arg ? xstrdup(arg) : NULL;
   v->arg2 = arg2 ? xstrdup(arg2) : NULL;
   ops->open(v);
}

static void close_view(void) {
   View *v = top_view();
   v->ops->done(v);
   free(v->arg);
   free(v->arg2);
   con.nviews--;
   if (top_view())
      top_view()->ops->open(top_view());
}

/* ---- drawing ---- */

static void draw_title(void) {
   char title[256] = "";
   View *v = top_view();
   if (v && v->ops->title)
      v->ops->title(v, title, sizeof title);
   Draw_fill(0, 0, COLS, Draw_attr(C_TITLE));
   Draw_text(0, 1, COLS - 2, Draw_attr(C_TITLE), title);
}

/* The message wrapped to the screen's width, at most a quarter of the screen; a longer one
 * ends with where to read the rest. Returns the number of lines (0 without a message). */
static int message_lines(char ***out) {
   *out = NULL;
   if (!con.message[0])
      return 0;
   char **l;
   int n = Draw_wrap(con.message, COLS - 1, &l), max = LINES / 4 > 1 ? LINES / 4 : 1;
   if (n > max) {
      char more[96];
      snprintf(more, sizeof more, "(%d more lines: L shows the message log)", n - max + 1);
      free(l[max - 1]);
      l[max - 1] = xstrdup(more);
      for (int i = max; i < n; i++)
         free(l[i]);
      n = max;
   }
   *out = l;
   return n;
}

static void draw_status(char **msg, int nmsg) {
   for (int i = 0; i < nmsg; i++) {
      Draw_fill(LINES - nmsg + i, 0, COLS, Draw_attr(C_STATUS));
      Draw_text(LINES - nmsg + i, 0, COLS, Draw_attr(C_STATUS), msg[i]);
   }
   if (nmsg)
      return;
   View *v = top_view();
   char hint[256];
   snprintf(hint, sizeof hint, "?:help q:back :command L:log%s%s", v && v->ops->hint ? "  " : "",
            v && v->ops->hint ? v->ops->hint : "");
   Draw_fill(LINES - 1, 0, COLS, Draw_attr(C_STATUS));
   Draw_text(LINES - 1, 0, COLS, Draw_attr(C_DIM), hint);
}

/* The demo's services and the background command, wrapped on up to three lines. */
static int services_lines(char ***out) {
   char line[512] = "";
   size_t n = 0;
   if (con.demo) {
      n = (size_t)snprintf(line, sizeof line, "demo: ");
      Demo_status(con.demo, con.st, line + n, sizeof line - n);
   }
   if (con.bg.pid) {
      n = strlen(line);
      snprintf(line + n, sizeof line - n, "%srunning: %s", n ? " \xc2\xb7 " : "", con.bg_label);
   }
   int k = Draw_wrap(line, COLS - 2, out), max = LINES >= 24 ? 3 : 2;
   for (int i = max; i < k; i++)
      free((*out)[i]);
   return k > max ? max : k;
}

static void draw_services(int y, char **l, int n) {
   for (int i = 0; i < n; i++) {
      Draw_fill(y + i, 0, COLS, Draw_attr(C_TITLE));
      Draw_text(y + i, 1, COLS - 2, Draw_attr(C_TITLE), l[i]);
   }
}

static void draw_too_small(void) {
   erase();
   char a[80], b[80];
   snprintf(a, sizeof a, "terminal too small: %dx%d", COLS, LINES);
   snprintf(b, sizeof b, "offramp needs at least %dx%d", MIN_COLS, MIN_LINES);
   int y = LINES / 2 - 1;
   if (y < 0)
      y = 0;
   Draw_text(y, 0, COLS, A_BOLD, a);
   if (y + 1 < LINES)
      Draw_text(y + 1, 0, COLS, A_NORMAL, b);
}

static void draw_all(void) {
   erase();
   if (COLS < MIN_COLS || LINES < MIN_LINES) {
      draw_too_small();
   } else {
      View *v = top_view();
      if (con.cols != COLS) {
         /* Views lay their text out for the width: again after a resize. */
         con.cols = COLS;
         v->ops->open(v);
      }
      char **msg, **svc = NULL;
      int nmsg = message_lines(&msg), nsvc = con.demo || con.bg.pid ? services_lines(&svc) : 0;
      v->height = LINES - 1 - nsvc - (nmsg ? nmsg : 1);
      int n = v->ops->lines(v);
      if (v->cursor >= n)
         v->cursor = n > 0 ? n - 1 : 0;
      if (v->cursor < 0)
         v->cursor = 0;
      if (v->ops->cursor_line) {
         if (v->cursor < v->offset)
            v->offset = v->cursor;
         if (v->cursor >= v->offset + v->height)
            v->offset = v->cursor - v->height + 1;
      }
      if (v->offset > n - v->height)
         v->offset = n - v->height;
      if (v->offset < 0)
         v->offset = 0;
      draw_title();
      v->ops->draw(v, 1, v->height, COLS);
      draw_services(1 + v->height, svc, nsvc);
      draw_status(msg, nmsg);
      Draw_free_lines(msg, nmsg);
      Draw_free_lines(svc, nsvc);
   }
   wnoutrefresh(stdscr);
   doupdate();
}

/* ---- the screen dump used by tests ---- */

static bool save_display(const char *path) {
   FILE *f = fopen(path, "w");
   if (!f) {
      Console_message("save-display: cannot write %s: %s", path, strerror(errno));
      return false;
   }
   wchar_t *wbuf = xcalloc(COLS + 1, sizeof *wbuf);
   char *mb = xmalloc((COLS + 1) * MB_CUR_MAX + 1);
   for (int y = 0; y < LINES; y++) {
      int n = mvinnwstr(y, 0, wbuf, COLS);
      if (n < 0)
         n = 0;
      wbuf[n] = L'\0';
      size_t k = wcstombs(mb, wbuf, (COLS + 1) * MB_CUR_MAX);
      if (k == (size_t)-1)
         k = 0;
      mb[k] = '\0';
      while (k > 0 && mb[k - 1] == ' ')
         mb[--k] = '\0';
      fprintf(f, "%s\n", mb);
   }
   free(wbuf);
   free(mb);
   fclose(f);
   return true;
}

/* ---- input: the keyboard, or the script in headless mode ---- */

static bool script_next_line(void);

/* What next_key returns when a busy view's wait for a key timed out. */
#define KEY_TICK KEY_MAX

/* How long the loop may wait for a key before the view's tick; 0 when it has nothing to do. */
static int view_busy(View *v) {
   return v && v->ops->busy && v->ops->tick ? v->ops->busy(v) : 0;
}

/* Whether the background command still runs; when it has ended, says how and reloads the view. */
static bool bg_running(void) {
   if (!con.bg.name)
      return false;
   int status = 0;
   if (Service_running(&con.bg, &status))
      return true;
   con.bg_ended = true;
   if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      Console_message("%s: done", con.bg_label);
   } else {
      char *tail = Service_log_tail(con.bg.log, 400);
      char *last = tail + strlen(tail);
      while (last > tail && last[-1] == '\n')
         *--last = '\0';
      char *nl = strrchr(tail, '\n'), how[48];
      if (WIFSIGNALED(status))
         snprintf(how, sizeof how, "killed by signal %d", WTERMSIG(status));
      else
         snprintf(how, sizeof how, "exit %d", WEXITSTATUS(status));
      Console_message("%s failed (%s): %s", con.bg_label, how, *tail ? (nl ? nl + 1 : tail) : "it wrote nothing");
      free(tail);
   }
   Service_clear(&con.bg);
   if (top_view())
      top_view()->ops->open(top_view());
   return false;
}

/* Live figures: background work, or the demo's traffic filling the workspace. */
static bool live(void) {
   return bg_running() || (con.demo && Service_running(&con.demo->replay, NULL));
}

static void tick(void) {
   View *v = top_view();
   bg_running();   /* a view that polls on its own must not keep the background command unreaped */
   if (view_busy(v))
      v->ops->tick(v);
   else if (live())
      v->ops->open(v);
}

static void bg_start(const char *label, char **args) {
   if (bg_running()) {
      Console_message("still busy with %s: wait for it", con.bg_label);
      return;
   }
   char *data = Dataset_data_dir(con.st), *log = xasprintf("%s/console-command.log", data), *err = NULL;
   if (!mkdir_p(data, 0700) || !Service_start(&con.bg, "command", (const char *const *)args, log, false, 0, &err)) {
      Console_message("%s: %s", label, err ? err : strerror(errno));
      Service_clear(&con.bg);
   } else {
      snprintf(con.bg_label, sizeof con.bg_label, "%s", label);
      Console_message("%s: started in the background (the line above the status line shows it while it runs)", label);
   }
   free(err);
   free(log);
   free(data);
}

/* The next key; -1 at the end of the script or once Ctrl-C was pressed (a signal, or the
 * key itself when the terminal passes it through). */
static int next_key(void) {
   int k;
   if (interrupted)
      return -1;
   if (!con.script) {
      int busy = view_busy(top_view());
      bool is_live = live();
      /* The demo's status line refreshes about once a second, also once the traffic has
       * stopped: its "last min" figures must age out without a key being pressed. */
      if (busy <= 0 && (is_live || con.demo))
         busy = 1000;
      if (con.bg_ended) {
         con.bg_ended = false;
         return KEY_TICK;   /* what it ended with goes on the screen first */
      }
      timeout(busy > 0 ? busy : -1);
      wint_t wch;
      for (;;) {
         int rc = get_wch(&wch);
         if (interrupted)
            return -1;
         if (rc != ERR)
            break;
         if (busy)
            return KEY_TICK;
         if (errno != EINTR)
            return -1;
      }
      k = (int)wch;
   } else {
      while (con.ipending >= con.npending) {
         if (!script_next_line())
            return -1;
      }
      k = con.pending[con.ipending++];
   }
   if (k == 3) {   /* Ctrl-C */
      interrupted = SIGINT;
      return -1;
   }
   return k;
}

static void queue_keys(const char *s) {
   con.npending = con.ipending = 0;
   size_t n = strlen(s);
   con.pending = xrealloc(con.pending, (n + 1) * sizeof *con.pending);
   mbstate_t ps;
   memset(&ps, 0, sizeof ps);
   while (*s) {
      int len, k;
      if (*s == '<') {
         k = Keys_parse(s, &len);
         if (k < 0) {
            k = '<';
            len = 1;
         }
      } else {
         wchar_t wc;
         size_t m = mbrtowc(&wc, s, strlen(s), &ps);
         if (m == (size_t)-1 || m == (size_t)-2 || m == 0) {
            memset(&ps, 0, sizeof ps);
            m = 1;
            wc = (unsigned char)*s;
         }
         k = (int)wc;
         len = (int)m;
      }
      con.pending[con.npending++] = k;
      s += len;
   }
}

/* Script lines: "# comment", ":command" run at once, anything else is keys
 * (with <Enter>, <Esc>, <Down>, <C-x> ... for special keys). The screen is redrawn
 * before each line so ':save-display' sees what a person would. */
static bool script_next_line(void) {
   char line[4096];
   for (;;) {
      if (!fgets(line, sizeof line, con.script))
         return false;
      con.script_line++;
      line[strcspn(line, "\n")] = '\0';
      if (!line[0] || line[0] == '#')
         continue;
      if (line[0] == ':') {
         draw_all();
         int flags = Console_command(line + 1);
         if (flags & BREAK_LOOP) {
            con.quit = true;
            return false;
         }
         draw_all();
         continue;
      }
      queue_keys(line);
      return true;
   }
}

/* Tab after ":task " or ":runbook ", or in the command name: completes the name from the
 * tasks, the runbooks or the commands; several matches go as far as they agree and are listed. */
static char *complete(Sbuf *sb) {
   const char *line = sb->buf ? sb->buf : "";
   const char *sp = strrchr(line, ' ');
   const char *word = sp ? sp + 1 : line;
   size_t wlen = strlen(word), prefix = (size_t)(word - line);
   const char **cands = NULL;
   int ncands = 0;
   Task *ts = NULL;
   int nts = 0;
   if (!sp) {
      for (int i = 0; i < Console_ncommands; i++) {
         cands = xrealloc(cands, (size_t)(ncands + 1) * sizeof *cands);
         cands[ncands++] = Console_commands[i].name;
      }
   } else if (strncmp(line, "task ", 5) == 0 || strncmp(line, "eval ", 5) == 0) {
      ts = Task_list(con.st, &nts);
      for (int i = 0; i < nts; i++) {
         cands = xrealloc(cands, (size_t)(ncands + 1) * sizeof *cands);
         cands[ncands++] = ts[i].name;
      }
   } else if (strncmp(line, "runbook ", 8) == 0) {
      for (int i = 0; i < Runbook_count; i++) {
         cands = xrealloc(cands, (size_t)(ncands + 1) * sizeof *cands);
         cands[ncands++] = Runbook_names[i];
      }
   }
   const char *first = NULL;
   size_t common = 0;
   int matches = 0;
   Sbuf list = { 0 };
   for (int i = 0; i < ncands; i++) {
      if (strncmp(cands[i], word, wlen) != 0)
         continue;
      if (!first) {
         first = cands[i];
         common = strlen(first);
      } else {
         size_t k = 0;
         while (k < common && first[k] == cands[i][k])
            k++;
         common = k;
      }
      Sbuf_printf(&list, "%s%s", matches++ ? " " : "", cands[i]);
   }
   char *said = NULL;
   if (!matches) {
      said = xasprintf("nothing to complete '%s' with", word);
   } else {
      char *done = xasprintf("%.*s%.*s%s", (int)prefix, line, (int)common, first, matches == 1 ? " " : "");
      Sbuf_reset(sb);
      Sbuf_puts(sb, done);
      free(done);
      if (matches > 1)
         said = xstrdup(list.buf);
   }
   Sbuf_free(&list);
   free(cands);
   Task_free_list(ts, nts);
   return said;
}

char *Console_prompt(const char *label, const char *initial) {
   Sbuf sb = { 0 };
   Sbuf_puts(&sb, initial ? initial : "");
   con.message[0] = '\0';
   bool commands = str_eq(label, ":");
   char *listed = NULL;   /* what Tab completed from, shown above the prompt */
   for (;;) {
      if (listed) {
         Draw_fill(LINES - 2, 0, COLS, Draw_attr(C_STATUS));
         Draw_text(LINES - 2, 0, COLS, Draw_attr(C_DIM), listed);
      }
      Draw_fill(LINES - 1, 0, COLS, A_NORMAL);
      int x = Draw_text(LINES - 1, 0, COLS, A_BOLD, label);
      const char *shown = sb.buf ? sb.buf : "";
      int w = Md_width(shown);
      if (w > COLS - x - 1)
         shown += strlen(shown) - Md_fit(shown, COLS - x - 1);   /* keep the end in view */
      Draw_text(LINES - 1, x, COLS - x, A_NORMAL, shown);
      curs_set(1);
      wnoutrefresh(stdscr);
      doupdate();
      int k = next_key();
      if (k < 0 || k == 27) {
         curs_set(0);
         Sbuf_free(&sb);
         free(listed);
         return NULL;
      }
      if (k == '\n' || k == '\r' || k == KEY_ENTER) {
         curs_set(0);
         free(listed);
         return Sbuf_steal(&sb);
      }
      if (k == 21) {   /* Ctrl-U: clear the line */
         Sbuf_reset(&sb);
         continue;
      }
      if (k == '\t' && commands) {
         free(listed);
         listed = complete(&sb);
         continue;
      }
      if (k == KEY_BACKSPACE || k == 127 || k == 8) {
         /* Drop one UTF-8 character. */
         while (sb.len > 0 && ((unsigned char)sb.buf[sb.len - 1] & 0xC0) == 0x80)
            sb.len--;
         if (sb.len > 0)
            sb.len--;
         if (sb.buf)
            sb.buf[sb.len] = '\0';
         continue;
      }
      if (k == KEY_RESIZE) {
         draw_all();
         continue;
      }
      if (k >= 32 && k < KEY_MIN) {
         char mb[MB_LEN_MAX];
         mbstate_t ps;
         memset(&ps, 0, sizeof ps);
         size_t m = wcrtomb(mb, (wchar_t)k, &ps);
         if (m != (size_t)-1)
            Sbuf_add(&sb, mb, m);
      }
   }
}

static View *find_view(const ViewOps *ops) {
   for (int i = con.nviews - 1; i >= 0; i--) {
      if (con.views[i].ops == ops)
         return &con.views[i];
   }
   return NULL;
}

/* The demo's rollout steps, through Demo_step_args (offramp route today). */
static void demo_command(const char *cmd, const char *arg) {
   if (!con.demo) {
      Console_message(":%s drives the demo's gateway: run it in offramp demo (offramp route does it elsewhere)", cmd);
      return;
   }
   if (str_eq(cmd, "replay")) {
      double rate;
      char *err = NULL;
      if (str_eq(arg, "off")) {
         Demo_replay_stop(con.demo);
         Console_message("replay stopped");
      } else if (!parse_double(*arg ? arg : "20", &rate) || rate <= 0 || rate > 1000) {
         Console_message("replay: '%s' is not a rate in requests per second (or off)", arg);
      } else if (Demo_replay_start(con.demo, con.st->path, rate, &err)) {
         Console_message("replaying %s's logged requests through the gateway at %g req/s", DEMO_TASK, rate);
      } else {
         Console_message("replay: %s", err);
      }
      free(err);
      return;
   }
   DemoStep step = str_eq(cmd, "shadow") ? DEMO_STEP_SHADOW : str_eq(cmd, "canary") ? DEMO_STEP_CANARY
                 : str_eq(cmd, "cutover") ? DEMO_STEP_CUTOVER : DEMO_STEP_ROLLBACK;
   long percent = 0;
   if (step == DEMO_STEP_CANARY && (!parse_long(arg, &percent) || percent < 1 || percent > 99)) {
      Console_message("canary: '%s' is not a percentage from 1 to 99", arg);
      return;
   }
   char *err = NULL;
   char **args = Demo_step_args(con.st, con.st->path, DEMO_TASK, step, (int)percent, &err);
   if (!args) {
      Console_message("%s", err);
   } else {
      char *label = step == DEMO_STEP_CANARY ? xasprintf("route %s: canary %ld %%", DEMO_TASK, percent)
                                             : xasprintf("route %s: %s", DEMO_TASK, cmd);
      bg_start(label, args);
      free(label);
   }
   Demo_free_args(args);
   free(err);
}

/* ---- ':' commands: one table, each command's handler its own function ---- */


/* Quitting stops what runs under the console (the demo's services, a background command):
 * ask once. */
static int ask_key(const char *question) {
   for (;;) {
      Draw_fill(LINES - 1, 0, COLS, A_NORMAL);
      Draw_text(LINES - 1, 0, COLS, A_BOLD, question);
      wnoutrefresh(stdscr);
      doupdate();
      int k = next_key();
      if (k == KEY_RESIZE)
         draw_all();
      else if (k != KEY_TICK)   /* live figures wait while the question is asked */
         return k;
   }
}

static int quit_flags(void) {
   Sbuf what = { 0 };
   if (con.demo)
      Sbuf_puts(&what, "the demo's services (frontier stand-in, trainer, gateway)");
   if (con.bg.pid)
      Sbuf_printf(&what, "%s%s", what.len ? " and " : "", con.bg_label);
   if (!what.len)
      return BREAK_LOOP;
   char *q = xasprintf("quit and stop %s? y/N ", what.buf);
   Sbuf_free(&what);
   int k = ask_key(q);
   free(q);
   if (k == 'y' || k == 'Y' || k < 0)
      return BREAK_LOOP;
   Console_message("still here: nothing was stopped");
   return REDRAW;
}

static int colon_quit(const char *arg) {
   return quit_flags();
}

static int colon_help(const char *arg) {
   View *v = top_view();
   Console_open_view(&help_ops, NULL, v && v->ops != &help_ops ? v->ops->name : NULL);
   return REDRAW;
}

static int colon_inventory(const char *arg) {
   Console_open_view(&inventory_ops, NULL, NULL);
   return REDRAW;
}

static int colon_audit(const char *arg) {
   Console_open_view(&audit_ops, NULL, NULL);
   return REDRAW;
}

static int colon_touchpoints(const char *arg) {
   Console_open_view(&touchpoints_ops, NULL, NULL);
   return REDRAW;
}

static int colon_messages(const char *arg) {
   Console_open_view(&messages_ops, NULL, NULL);
   return REDRAW;
}

static int colon_task(const char *arg) {
   Task t;
   Task_init(&t);
   char *err = NULL;
   if (Task_get(con.st, arg, &t, &err))
      Console_open_view(&task_ops, arg, NULL);
   else
      Console_message("%s", err);
   free(err);
   Task_clear(&t);
   return REDRAW;
}

static int colon_runbook(const char *arg) {
   View *tv = find_view(&task_ops);
   char *err = NULL;
   const char *name = Runbook_name(arg) ? Runbook_name(arg) : arg;
   MdDoc *d = Runbook_load(name, 80, &err);
   if (d)
      Console_open_view(&runbook_ops, name, tv ? tv->arg : NULL);
   else
      Console_message("%s", err);
   Md_free(d);
   free(err);
   return REDRAW;
}

static int colon_advance(const char *arg) {
   View *top = top_view();
   if (top->ops != &task_ops) {
      Console_message(":advance works in a task view (open one with Enter)");
      return REDRAW;
   }
   return top->ops->request(top, ACTION_PHASE_ADVANCE);
}

static int colon_rollback(const char *arg) {
   View *top = top_view();
   if (top->ops != &task_ops) {
      Console_message(":rollback works in a task view (open one with Enter)");
      return REDRAW;
   }
   Phase to;
   char *err = NULL, *note = NULL;
   if (!Phase_parse(arg, &to))
      Console_message("'%s' is not a phase (audit, dataset, train, evaluate, shadow, canary, cutover)", arg);
   else if (GwAdmin_phase_rollback(con.st, top->arg, to, "console", &note, &err))
      Console_message("%s rolled back to %s%s%s", top->arg, Phase_name(to), note ? "; " : "", note ? note : "");
   else
      Console_message("%s", err);
   free(err);
   free(note);
   top->ops->open(top);
   return REDRAW;
}

static int colon_sleep(const char *arg) {
   double limit, start = mono_seconds();
   if (!parse_double(arg, &limit) || limit <= 0 || limit > 3600) {
      Console_message("sleep: '%s' is not a number of seconds", arg);
      return REDRAW;
   }
   while (mono_seconds() - start < limit && !interrupted) {
      usleep(100000);
      tick();
   }
   return REDRAW;
}

static int colon_eval(const char *arg) {
   View *tv = find_view(&task_ops);
   const char *task = *arg ? arg : tv ? tv->arg : NULL;
   if (!task) {
      Console_message(":eval needs a task: open one, or :eval TASK");
      return REDRAW;
   }
   char *label = xasprintf("evaluating %s", task);
   char *args[] = { "-w", con.st->path, "eval", (char *)task, "--set-min-confidence", "--bar", DEMO_FALLBACK_BAR,
                    NULL };
   /* The demo's bar sets a threshold that shows fallbacks; elsewhere the task's own bar. */
   if (!con.demo)
      args[5] = NULL;
   bg_start(label, args);
   free(label);
   return REDRAW;
}

static int colon_shadow(const char *arg) {
   demo_command("shadow", arg);
   return REDRAW;
}

static int colon_canary(const char *arg) {
   demo_command("canary", arg);
   return REDRAW;
}

static int colon_cutover(const char *arg) {
   demo_command("cutover", arg);
   return REDRAW;
}

static int colon_rollback_route(const char *arg) {
   demo_command("rollback-route", arg);
   return REDRAW;
}

static int colon_replay(const char *arg) {
   demo_command("replay", arg);
   return REDRAW;
}

/* The top view's filter when it has one, else the inventory's (which it then shows). */
static int colon_filter(const char *arg) {
   View *v = top_view();
   if (!v->ops->filters) {
      Console_open_view(&inventory_ops, NULL, NULL);
      v = top_view();
   }
   snprintf(v->filter, sizeof v->filter, "%s", arg);
   v->cursor = v->offset = 0;
   v->ops->open(v);
   return REDRAW;
}

static int colon_save_display(const char *arg) {
   if (save_display(*arg ? arg : "offramp-screen.txt") && !con.script)
      Console_message("screen saved to %s", *arg ? arg : "offramp-screen.txt");
   return REDRAW;
}

static int colon_resize(const char *arg) {
   int w, h;
   if (sscanf(arg, "%dx%d", &w, &h) == 2 && w > 0 && h > 0 && w < 1000 && h < 1000)
      resizeterm(h, w);
   else
      Console_message("resize: '%s' is not COLSxLINES (e.g. 80x24)", arg);
   return REDRAW;
}

static int colon_wait(const char *arg) {
   double limit, start = mono_seconds();
   if (!parse_double(arg, &limit) || limit <= 0 || limit > 3600) {
      Console_message("wait: '%s' is not a number of seconds", arg);
      return REDRAW;
   }
   int ms;
   while (((ms = view_busy(top_view())) > 0 || bg_running()) && mono_seconds() - start < limit && !interrupted) {
      tick();
      if (view_busy(top_view()) > 0 || con.bg.pid)
         usleep((useconds_t)(ms > 0 && ms < 50 ? ms : 50) * 1000);
   }
   return REDRAW;
}

const ConsoleCommand Console_commands[] = {
   { "quit", "q", "", "quit the console (asks first while services run)", colon_quit, CMD_ANYWHERE },
   { "help", NULL, "", "show the keys and these commands", colon_help, CMD_ANYWHERE },
   { "inventory", NULL, "", "show the ranked inventory", colon_inventory, CMD_ANYWHERE },
   { "audit", NULL, "", "show the audit table", colon_audit, CMD_ANYWHERE },
   { "touchpoints", NULL, "", "show the untagged calls grouped by prompt template", colon_touchpoints, CMD_ANYWHERE },
   { "messages", "log", "", "show every message of this session (L)", colon_messages, CMD_ANYWHERE },
   { "task", NULL, "NAME", "open a task (Tab completes the name)", colon_task, CMD_ANYWHERE },
   { "runbook", NULL, "NAME", "open a runbook by name or phase (audit, dataset, train, ...)", colon_runbook, CMD_ANYWHERE },
   { "advance", NULL, "", "advance the open task's phase", colon_advance, CMD_ANYWHERE },
   { "rollback", NULL, "PHASE", "roll the open task back to PHASE", colon_rollback, CMD_ANYWHERE },
   { "filter", NULL, "TEXT", "filter this view, or the inventory (empty clears)", colon_filter, CMD_ANYWHERE },
   { "eval", NULL, "[TASK]", "evaluate the task's picked candidate in the background", colon_eval, CMD_ANYWHERE },
   { "shadow", NULL, "", "route the demo task in shadow to its candidate", colon_shadow, CMD_DEMO },
   { "canary", NULL, "PERCENT", "route PERCENT of the demo task's traffic to the candidate", colon_canary, CMD_DEMO },
   { "cutover", NULL, "", "the candidate serves, the API as per-request fallback", colon_cutover, CMD_DEMO },
   { "rollback-route", NULL, "", "send all of the demo task's traffic back to the API", colon_rollback_route, CMD_DEMO },
   { "replay", NULL, "RATE|off", "replay the demo task's logged requests through the gateway", colon_replay, CMD_DEMO },
   { "save-display", NULL, "FILE", "write the screen as text to FILE", colon_save_display, CMD_SCRIPT },
   { "resize", NULL, "COLSxLINES", "resize the screen (headless mode)", colon_resize, CMD_SCRIPT },
   { "wait", NULL, "SECONDS", "follow the view's background work until done or SECONDS pass", colon_wait, CMD_SCRIPT },
   { "sleep", NULL, "SECONDS", "let SECONDS pass, refreshing live figures", colon_sleep, CMD_SCRIPT },
};
const int Console_ncommands = (int)ARRAY_SIZE(Console_commands);

int Console_command(const char *input) {
   char *cmd = xstrdup(input);
   str_trim(cmd);
   char *arg = strchr(cmd, ' ');
   if (arg) {
      *arg++ = '\0';
      str_trim(arg);
   } else {
      arg = cmd + strlen(cmd);
   }
   int flags = HANDLED | REDRAW;
   const ConsoleCommand *c = NULL;
   for (int i = 0; i < Console_ncommands && !c; i++) {
      if (str_eq(cmd, Console_commands[i].name) || (Console_commands[i].alias && str_eq(cmd, Console_commands[i].alias)))
         c = &Console_commands[i];
   }
   if (c) {
      flags |= c->run(arg);
   } else if (*cmd) {
      Sbuf sb = { 0 };
      for (int i = 0; i < Console_ncommands; i++) {
         if (Console_commands[i].kind == CMD_ANYWHERE || (Console_commands[i].kind == CMD_DEMO && con.demo))
            Sbuf_printf(&sb, "%s%s", sb.len ? ", " : "", Console_commands[i].name);
      }
      Console_message("unknown command ':%s' (commands: %s; ? lists them all)", cmd, sb.buf);
      Sbuf_free(&sb);
   }
   free(cmd);
   return flags;
}

/* ---- the loop ---- */

static int generic_request(View *v, Action a) {
   int n = v->ops->lines(v);
   int page = v->height > 1 ? v->height - 1 : 1;
   int *pos = v->ops->cursor_line ? &v->cursor : &v->offset;
   switch (a) {
   case ACTION_MOVE_UP: (*pos)--; break;
   case ACTION_MOVE_DOWN: (*pos)++; break;
   case ACTION_MOVE_PAGE_UP: *pos -= page; if (v->ops->cursor_line) v->offset -= page; break;
   case ACTION_MOVE_PAGE_DOWN: *pos += page; if (v->ops->cursor_line) v->offset += page; break;
   case ACTION_MOVE_FIRST: *pos = 0; break;
   case ACTION_MOVE_LAST: *pos = n; break;
   case ACTION_BACK:
      if (con.nviews == 1)
         return quit_flags();
      close_view();
      return REDRAW;
   case ACTION_ESCAPE:
      /* Never quits: clears the filter, else goes back; on the last view says how to quit. */
      if (v->filter[0]) {
         v->filter[0] = '\0';
         v->cursor = v->offset = 0;
         v->ops->open(v);
         Console_message("filter cleared");
      } else if (con.nviews > 1) {
         close_view();
      } else {
         Console_message("Esc never quits: q or :quit leaves the console");
      }
      return REDRAW;
   case ACTION_QUIT:
      return quit_flags();
   case ACTION_VIEW_HELP:
      return colon_help("");
   case ACTION_VIEW_MESSAGES:
      return colon_messages("");
   case ACTION_VIEW_RUNBOOK: {
      /* From a view about one task (rollout, disagreements): the runbook of its phase. */
      Task t;
      Task_init(&t);
      Phase p = PHASE_AUDIT;
      char *err = NULL;
      if (v->arg && Task_get(con.st, v->arg, &t, &err) && Phase_parse(t.phase, &p))
         Console_open_view(&runbook_ops, Phase_runbook(p), v->arg);
      else
         colon_runbook("audit");
      free(err);
      Task_clear(&t);
      return REDRAW;
   }
   case ACTION_VIEW_INVENTORY:
      Console_open_view(&inventory_ops, NULL, NULL);
      return REDRAW;
   case ACTION_VIEW_AUDIT:
      Console_open_view(&audit_ops, NULL, NULL);
      return REDRAW;
   case ACTION_VIEW_TOUCHPOINTS:
      Console_open_view(&touchpoints_ops, NULL, NULL);
      return REDRAW;
   case ACTION_REFRESH:
      v->ops->open(v);
      clearok(curscr, TRUE);
      return REDRAW;
   case ACTION_PROMPT: {
      char *cmd = Console_prompt(":", NULL);
      int flags = cmd ? Console_command(cmd) : REDRAW;
      free(cmd);
      return flags;
   }
   case ACTION_FILTER: {
      View *fv = v->ops->filters ? v : find_view(&inventory_ops);
      char *f = Console_prompt("/", fv ? fv->filter : "");
      if (f)
         colon_filter(str_trim(f));
      free(f);
      return REDRAW;
   }
   default:
      return NOT_HANDLED;
   }
   if (*pos > n - 1 && v->ops->cursor_line)
      *pos = n - 1;
   if (*pos < 0)
      *pos = 0;
   if (!v->ops->cursor_line && *pos > n - v->height)
      *pos = n - v->height > 0 ? n - v->height : 0;
   return REDRAW;
}

static void handle_key(int key) {
   if (key == KEY_RESIZE)
      return;
   if (COLS < MIN_COLS || LINES < MIN_LINES) {
      if (key == 'q' || key == 'Q')
         con.quit = quit_flags() & BREAK_LOOP;
      return;
   }
   View *v = top_view();
   Action a = Keys_lookup(v->ops->name, key);
   if (a == ACTION_NONE) {
      char k[16];
      Console_message("%s is not bound in this view (? shows the keys)", Keys_name(key, k, sizeof k));
      return;
   }
   con.message[0] = '\0';
   int flags = v->ops->request(v, a);
   if (flags == NOT_HANDLED)
      flags = generic_request(v, a);
   if (flags == NOT_HANDLED)
      Console_message("%s does nothing in this view", Action_name(a));
   if (flags & BREAK_LOOP)
      con.quit = true;
}

static int run(Store *st, const char *start_view, DemoEnv *demo);

int Console_run_demo(Store *st, DemoEnv *env) {
   return run(st, "audit", env);
}

int Console_run(Store *st, const char *start_view) {
   return run(st, start_view, NULL);
}

static int run(Store *st, const char *start_view, DemoEnv *demo) {
   memset(&con, 0, sizeof con);
   con.st = st;
   con.demo = demo;
   Keys_init();
   const char *script = getenv("OFFRAMP_SCRIPT");
   if (script && *script) {
      con.script = fopen(script, "r");
      if (!con.script) {
         fprintf(stderr, "offramp: cannot read the script %s: %s\n", script, strerror(errno));
         return EXIT_ERROR;
      }
      /* Headless: draw into curses' screen model only; tests read it with save-display. */
      FILE *devnull = fopen("/dev/null", "w+");
      const char *term = getenv("TERM");
      con.screen = newterm(term && *term ? term : "xterm", devnull, devnull);
      if (!con.screen) {
         fprintf(stderr, "offramp: cannot start the headless screen for TERM=%s\n", term);
         return EXIT_ERROR;
      }
   } else {
      if (!isatty(0) || !isatty(1)) {
         fprintf(stderr, "offramp: the console needs a terminal (use the subcommands in scripts: offramp --help)\n");
         return EXIT_ERROR;
      }
      initscr();
   }
   cbreak();
   noecho();
   nonl();
   keypad(stdscr, TRUE);
   set_escdelay(25);
   curs_set(0);
   Draw_init_colors();
   /* Ctrl-C leaves like q would, without asking: services stopped, terminal restored, exit 130. */
   interrupted = 0;
   struct sigaction sa = { .sa_handler = on_interrupt }, old_int, old_term;
   sigemptyset(&sa.sa_mask);
   sigaction(SIGINT, &sa, &old_int);
   sigaction(SIGTERM, &sa, &old_term);
   Console_open_view(&inventory_ops, NULL, NULL);
   if (start_view && str_eq(start_view, "help"))
      Console_open_view(&help_ops, NULL, NULL);
   else if (start_view && str_eq(start_view, "audit"))
      Console_open_view(&audit_ops, NULL, NULL);
   while (!con.quit) {
      draw_all();
      int key = next_key();
      if (key < 0)
         break;
      if (key == '\r')
         key = '\n';
      if (key == KEY_ENTER)
         key = '\n';
      if (key == KEY_TICK) {
         tick();
         continue;
      }
      handle_key(key);
   }
   while (con.nviews > 0) {
      View *v = &con.views[--con.nviews];
      v->ops->done(v);
      free(v->arg);
      free(v->arg2);
   }
   endwin();
   if (con.screen)
      delscreen(con.screen);
   if (con.script)
      fclose(con.script);
   free(con.pending);
   Service_clear(&con.bg);
   for (int i = 0; i < con.nlog; i++)
      free(con.log[i].text);
   free(con.log);
   sigaction(SIGINT, &old_int, NULL);
   sigaction(SIGTERM, &old_term, NULL);
   return interrupted ? 128 + interrupted : EXIT_OK;
}
