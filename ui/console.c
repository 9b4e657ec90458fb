/* console.c - the console's main loop: the view stack, the title and status bars, the ':'
 * and '/' prompts, resize handling, and the headless script mode used by the screen tests
 * (OFFRAMP_SCRIPT=file: keys and ':' commands in, ':save-display FILE' dumps the screen). */
#include "config.h"

#include <errno.h>
#include <sys/wait.h>
#include <limits.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "cli.h"
#include "dataset.h"
#include "console.h"
#include "mdview.h"
#include "phase.h"
#include "runbook.h"
#include "task.h"
#include "util.h"
#include <unistd.h>

#define MIN_COLS 60
#define MIN_LINES 16
#define MAX_VIEWS 16

static struct {
   Store *st;
   View views[MAX_VIEWS];
   int nviews;
   char message[256];
   char filter[128];
   bool quit;
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
} con;

Store *Console_store(void) {
   return con.st;
}

const char *Console_filter(void) {
   return con.filter;
}

void Console_message(const char *fmt, ...) {
   va_list ap;
   va_start(ap, fmt);
   vsnprintf(con.message, sizeof con.message, fmt, ap);
   va_end(ap);
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

static void draw_status(void) {
   Draw_fill(LINES - 1, 0, COLS, Draw_attr(C_STATUS));
   if (con.message[0]) {
      Draw_text(LINES - 1, 0, COLS, Draw_attr(C_STATUS), con.message);
      return;
   }
   View *v = top_view();
   char hint[160];
   int len = snprintf(hint, sizeof hint, "?:help q:back :command");
   if (v && v->ops == &task_ops)
      snprintf(hint + len, sizeof hint - len, "  Tab:select +/-:score s:accept >:advance r:runbook");
   else if (v && v->ops == &runbook_ops)
      snprintf(hint + len, sizeof hint - len, "  j/k:move Space:check [/]:other runbook");
   else if (v && v->ops == &inventory_ops)
      snprintf(hint + len, sizeof hint - len, "  j/k:move Enter:open r:runbook /:filter");
   else if (v && v->ops == &audit_ops)
      snprintf(hint + len, sizeof hint - len, "  j/k:move o:sort Enter:open T:touchpoints");
   else if (v && v->ops == &touchpoints_ops)
      snprintf(hint + len, sizeof hint - len, "  j/k:move n:name m:merge A:audit");
   Draw_text(LINES - 1, 0, COLS, Draw_attr(C_DIM), hint);
}

/* The demo's services and the background command, above the status line. */
static void draw_services(void) {
   char line[320];
   size_t n = (size_t)snprintf(line, sizeof line, "demo: ");
   Demo_status(con.demo, con.st, line + n, sizeof line - n);
   if (con.bg.pid) {
      n = strlen(line);
      snprintf(line + n, sizeof line - n, " · %s…", con.bg_label);
   }
   Draw_fill(LINES - 2, 0, COLS, Draw_attr(C_TITLE));
   Draw_text(LINES - 2, 1, COLS - 2, Draw_attr(C_TITLE), line);
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
      v->height = LINES - (con.demo ? 3 : 2);
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
      if (con.demo)
         draw_services();
      draw_status();
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
   if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      Console_message("%s: done", con.bg_label);
   } else {
      char *tail = Service_log_tail(con.bg.log, 400);
      char *last = tail + strlen(tail);
      while (last > tail && last[-1] == '\n')
         *--last = '\0';
      char *nl = strrchr(tail, '\n');
      Console_message("%s failed: %s", con.bg_label, nl ? nl + 1 : tail);
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
      Console_message("%s…", label);
   }
   free(err);
   free(log);
   free(data);
}

static int next_key(void) {
   if (!con.script) {
      int busy = view_busy(top_view());
      if (busy <= 0 && live())
         busy = 1000;   /* the demo's status line refreshes about once a second */
      timeout(busy > 0 ? busy : -1);
      wint_t wch;
      int rc = get_wch(&wch);
      if (rc == ERR)
         return busy ? KEY_TICK : -1;
      return (int)wch;
   }
   while (con.ipending >= con.npending) {
      if (!script_next_line())
         return -1;
   }
   return con.pending[con.ipending++];
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

char *Console_prompt(const char *label, const char *initial) {
   Sbuf sb = { 0 };
   Sbuf_puts(&sb, initial ? initial : "");
   con.message[0] = '\0';
   for (;;) {
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
         return NULL;
      }
      if (k == '\n' || k == '\r' || k == KEY_ENTER) {
         curs_set(0);
         return Sbuf_steal(&sb);
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

/* ---- ':' commands ---- */

static const struct {
   const char *name, *args, *help;
} commands[] = {
   { "quit", "", "quit the console (also :q)" },
   { "help", "", "show the key bindings" },
   { "inventory", "", "show the ranked inventory" },
   { "audit", "", "show the audit table" },
   { "touchpoints", "", "show the discovered touchpoints" },
   { "task", "NAME", "open a task" },
   { "runbook", "NAME", "open a runbook (audit, dataset, training, ...)" },
   { "advance", "", "advance the open task's phase" },
   { "rollback", "PHASE", "roll the open task back to PHASE" },
   { "filter", "TEXT", "filter the inventory (empty clears)" },
   { "save-display", "FILE", "write the screen as text to FILE" },
   { "resize", "COLSxLINES", "resize the screen (headless mode)" },
   { "wait", "SECONDS", "follow the view's background work until done or SECONDS pass" },
   { "sleep", "SECONDS", "let SECONDS pass, refreshing live figures (scripts)" },
   { "eval", "[TASK]", "evaluate the task's picked candidate in the background" },
   { "shadow", "", "demo: route the task in shadow to its candidate" },
   { "canary", "PERCENT", "demo: route PERCENT of the task's traffic to the candidate" },
   { "cutover", "", "demo: the candidate serves, the API as per-request fallback" },
   { "rollback-route", "", "demo: send all of the task's traffic back to the API" },
   { "replay", "RATE|off", "demo: replay the task's logged requests through the gateway" },
};

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
   char **args = Demo_step_args(con.st, con.st->path, step, (int)percent, &err);
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
   View *tv = find_view(&task_ops);
   if (str_eq(cmd, "q") || str_eq(cmd, "quit")) {
      flags |= BREAK_LOOP;
   } else if (str_eq(cmd, "help")) {
      Console_open_view(&help_ops, NULL, NULL);
   } else if (str_eq(cmd, "inventory")) {
      Console_open_view(&inventory_ops, NULL, NULL);
   } else if (str_eq(cmd, "audit")) {
      Console_open_view(&audit_ops, NULL, NULL);
   } else if (str_eq(cmd, "touchpoints")) {
      Console_open_view(&touchpoints_ops, NULL, NULL);
   } else if (str_eq(cmd, "task")) {
      Task t;
      Task_init(&t);
      char *err = NULL;
      if (Task_get(con.st, arg, &t, &err))
         Console_open_view(&task_ops, arg, NULL);
      else
         Console_message("%s", err);
      free(err);
      Task_clear(&t);
   } else if (str_eq(cmd, "runbook")) {
      char *err = NULL;
      MdDoc *d = Runbook_load(arg, 80, &err);
      if (d)
         Console_open_view(&runbook_ops, arg, tv ? tv->arg : NULL);
      else
         Console_message("%s", err);
      Md_free(d);
      free(err);
   } else if (str_eq(cmd, "advance") || str_eq(cmd, "rollback")) {
      View *top = top_view();
      if (top->ops != &task_ops) {
         Console_message(":%s works in a task view (open one with Enter)", cmd);
      } else if (str_eq(cmd, "advance")) {
         flags = top->ops->request(top, ACTION_PHASE_ADVANCE);
      } else {
         Phase to;
         char *err = NULL;
         if (!Phase_parse(arg, &to))
            Console_message("'%s' is not a phase (audit, dataset, train, evaluate, shadow, canary, cutover)", arg);
         else if (Phase_rollback(con.st, top->arg, to, "console", &err))
            Console_message("%s rolled back to %s", top->arg, Phase_name(to));
         else
            Console_message("%s", err);
         free(err);
         top->ops->open(top);
      }
   } else if (str_eq(cmd, "sleep")) {
      double limit, start = mono_seconds();
      if (!parse_double(arg, &limit) || limit <= 0 || limit > 3600) {
         Console_message("sleep: '%s' is not a number of seconds", arg);
      } else {
         while (mono_seconds() - start < limit) {
            usleep(100000);
            tick();
         }
      }
   } else if (str_eq(cmd, "eval")) {
      const char *task = *arg ? arg : tv ? tv->arg : NULL;
      if (!task) {
         Console_message(":eval needs a task: open one, or :eval TASK");
      } else {
         char *label = xasprintf("evaluating %s", task);
         char *args[] = { "-w", con.st->path, "eval", (char *)task, "--set-min-confidence", "--bar", DEMO_FALLBACK_BAR,
                          NULL };
         /* The demo's bar sets a threshold that shows fallbacks; elsewhere the task's own bar. */
         if (!con.demo)
            args[5] = NULL;
         bg_start(label, args);
         free(label);
      }
   } else if (str_eq(cmd, "shadow") || str_eq(cmd, "canary") || str_eq(cmd, "cutover") ||
              str_eq(cmd, "rollback-route") || str_eq(cmd, "replay")) {
      demo_command(cmd, arg);
   } else if (str_eq(cmd, "filter")) {
      snprintf(con.filter, sizeof con.filter, "%s", arg);
      View *iv = find_view(&inventory_ops);
      if (iv)
         iv->ops->open(iv);
   } else if (str_eq(cmd, "save-display")) {
      if (save_display(*arg ? arg : "offramp-screen.txt") && !con.script)
         Console_message("screen saved to %s", *arg ? arg : "offramp-screen.txt");
   } else if (str_eq(cmd, "resize")) {
      int w, h;
      if (sscanf(arg, "%dx%d", &w, &h) == 2 && w > 0 && h > 0 && w < 1000 && h < 1000)
         resizeterm(h, w);
      else
         Console_message("resize: '%s' is not COLSxLINES (e.g. 80x24)", arg);
   } else if (str_eq(cmd, "wait")) {
      double limit, start = mono_seconds();
      if (!parse_double(arg, &limit) || limit <= 0 || limit > 3600) {
         Console_message("wait: '%s' is not a number of seconds", arg);
      } else {
         int ms;
         while (((ms = view_busy(top_view())) > 0 || bg_running()) && mono_seconds() - start < limit) {
            tick();
            if (view_busy(top_view()) > 0 || con.bg.pid)
               usleep((useconds_t)(ms > 0 && ms < 50 ? ms : 50) * 1000);
         }
      }
   } else if (*cmd) {
      Sbuf sb = { 0 };
      for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
         Sbuf_printf(&sb, "%s%s", i ? ", " : "", commands[i].name);
      Console_message("unknown command ':%s' (commands: %s)", cmd, sb.buf);
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
         return BREAK_LOOP;
      close_view();
      return REDRAW;
   case ACTION_QUIT:
      return BREAK_LOOP;
   case ACTION_VIEW_HELP:
      Console_open_view(&help_ops, NULL, NULL);
      return REDRAW;
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
      char *f = Console_prompt("/", con.filter);
      if (f) {
         char *c = xasprintf("filter %s", f);
         Console_command(c);
         free(c);
         free(f);
         View *iv = find_view(&inventory_ops);
         if (iv && v != iv)
            Console_open_view(&inventory_ops, NULL, NULL);
      }
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
      if (key == 'q' || key == 'Q' || key == 27)
         con.quit = true;
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
   return EXIT_OK;
}
