/* console.h - the console's views, drawing helpers and shared state. */
#ifndef OFFRAMP_CONSOLE_H
#define OFFRAMP_CONSOLE_H

#define _XOPEN_SOURCE_EXTENDED 1
#include <curses.h>
#include <stdbool.h>

#include "actions.h"
#include "demo/demo.h"
#include "store/store.h"

/* What a request handler tells the main loop; only the loop redraws. */
enum { NOT_HANDLED = 0, HANDLED = 1, REDRAW = 2, BREAK_LOOP = 4 };

typedef struct View View;

typedef struct {
   const char *name;                        /* keymap name: "inventory", "task", ... */
   void (*open)(View *v);                   /* load data; also called to reload */
   void (*draw)(View *v, int top, int height, int width);
   int (*request)(View *v, Action a);       /* flags */
   void (*done)(View *v);
   /* Title shown in the top bar. */
   void (*title)(View *v, char *buf, size_t size);
   /* Lines the view holds, for generic cursor movement. */
   int (*lines)(View *v);
   bool cursor_line;                        /* a selectable cursor (else j/k scroll) */
   bool filters;                            /* '/' filters this view (else the inventory) */
   const char *hint;                        /* its main keys, for the status line */
   /* Background work (jobs to follow, a live panel): busy returns how many milliseconds the
    * loop may wait for a key before it calls tick (0: nothing to do, wait for keys only). tick
    * must return quickly: bounded HTTP timeouts, or a non-blocking transfer it polls. */
   int (*busy)(View *v);
   int (*tick)(View *v);                    /* flags */
} ViewOps;

struct View {
   const ViewOps *ops;
   int cursor, offset, height;
   char *arg;          /* task or runbook name */
   char *arg2;         /* runbook: the task it is for; help: the view it was asked from */
   char filter[128];   /* '/' text, for views that filter */
   void *data;
};

extern const ViewOps inventory_ops, task_ops, help_ops, runbook_ops, report_ops, audit_ops,
   touchpoints_ops, rollout_ops, review_ops, messages_ops, versions_ops;

/* ---- console state and services for views ---- */
Store *Console_store(void);
void Console_open_view(const ViewOps *ops, const char *arg, const char *arg2);
void Console_message(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Ask for a line of input on the status line; NULL when cancelled. Caller frees. */
char *Console_prompt(const char *label, const char *initial);
/* Run a ':' command; returns handler flags. */
int Console_command(const char *cmd);

/* The ':' commands, one table: help lists it, the prompt completes from it. */
typedef enum {
   CMD_ANYWHERE,   /* in any console */
   CMD_DEMO,       /* drives the demo's gateway (offramp demo) */
   CMD_SCRIPT,     /* for key scripts and tests */
} CommandKind;
typedef struct {
   const char *name, *alias, *args, *help;
   int (*run)(const char *arg);   /* handler flags */
   CommandKind kind;
} ConsoleCommand;
extern const ConsoleCommand Console_commands[];
extern const int Console_ncommands;

/* The session's messages, oldest first: text, time (HH:MM:SS) and how often it came in a row. */
int Console_log_count(void);
const char *Console_log_entry(int i, const char **ts, int *repeat);

/* Run the console on an open workspace until the user quits. */
int Console_run(Store *st, const char *start_view);
/* The demo's console: opens on the audit view, shows env's services on the status line and
 * adds the commands that drive them (:eval, :shadow, :canary N, :cutover, :replay R). */
int Console_run_demo(Store *st, DemoEnv *env);

/* ---- drawing ---- */
enum { C_TITLE, C_CURSOR, C_HEADING, C_OK, C_FAIL, C_MISSING, C_DIM, C_CURRENT, C_STATUS, C_CODE, C_COUNT };
void Draw_init_colors(void);
int Draw_attr(int which);
/* Draw s at (y, x) clipped to width display columns; returns columns used. */
int Draw_text(int y, int x, int width, int attr, const char *s);
void Draw_fill(int y, int x, int width, int attr);
/* Whether s is valid UTF-8 free of C0 and C1 control characters (what Draw_text draws as is). */
bool Draw_clean(const char *s);
/* s word-wrapped to width display columns, a new line at each newline too; returns the number
 * of lines, *lines the lines (free with Draw_free_lines). */
int Draw_wrap(const char *s, int width, char ***lines);
void Draw_free_lines(char **lines, int n);

/* Text assembled from attributed segments, one list of lines; for views that lay out
 * sections (task, help). */
typedef struct {
   char *s;
   int attr;
} Seg;
typedef struct {
   Seg *seg;
   int n;
   int tag;            /* view-specific marker (e.g. which score a line shows) */
} ULine;
typedef struct {
   ULine *l;
   int n;
} UText;

void UText_add(UText *t, int attr, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void UText_nl(UText *t);
void UText_clear(UText *t);
void UText_draw(const UText *t, int from, int y, int height, int width, int cursor);
/* Lines longer than width (the screen's) go on under themselves, broken between words:
 * nothing is cut at the screen's edge. The console reopens the top view when the width changes. */
void UText_wrap(UText *t, int width);

#endif
