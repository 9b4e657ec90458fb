/* cli.h - what every subcommand shares: the command table, exit codes, workspace opening.
 * Folder rule, src/cli/: the command line, one cmd_*.c per command; includes all but ui/. */
#ifndef OFFRAMP_CLI_H
#define OFFRAMP_CLI_H

#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include "common/util.h"
#include "store/store.h"

/* Exit codes: scripts and CI tell a refused gate from a broken invocation. */
enum {
   EXIT_OK = 0,
   EXIT_ERROR = 1,   /* bad input, missing thing, I/O or workspace error */
   EXIT_USAGE = 2,   /* unknown option or missing argument */
   EXIT_GATE = 3,    /* a gate refused: the numbers are not there yet */
};

typedef struct {
   const char *workspace;   /* -w/--workspace, or NULL */
} Cli;

typedef struct {
   const char *name;
   int (*run)(Cli *cli, int argc, char **argv);
   const char *summary;
} Command;

/* Every subcommand, in the order "offramp --help" lists them. */
extern const Command Commands[];
extern const int Commands_count;

/* Open the workspace named by the CLI (creating it when create is set); exits with a clear
 * message on failure. */
Store *Cli_open(Cli *cli, bool create);

/* Standard handling of --help/--version for a subcommand: returns true when it printed and
 * the caller should exit 0. usage is the full help text. */
bool Cli_help_or_version(int argc, char **argv, const char *usage);

/* Print "offramp CMD: unknown option ..."-style message plus a hint, return EXIT_USAGE. */
int Cli_usage_error(const char *cmd, const char *fmt, ...) ATTR_PRINTF(2, 3);

/* Options of a command whose only option is --json; false after printing a usage error. */
bool Cli_json_option(const char *cmd, int argc, char **argv, bool *json);

/* The one shape of a bad command line (exit 2, nothing opened or written):
 *    offramp CMD: --OPTION 'VALUE' is not WHAT-IT-TAKES
 *    Try 'offramp CMD --help'.
 * Cli_bad_option names the option getopt_long stopped at ('?': unknown, or its value
 * missing); Cli_bad_value prints "OPTION 'VALUE' is not " then fmt, which says what the
 * option takes (the fix). Both return EXIT_USAGE. */
int Cli_bad_option(const char *cmd, int argc, char **argv);
int Cli_bad_value(const char *cmd, const char *option, const char *value, const char *fmt, ...) ATTR_PRINTF(4, 5);

/* Parse a whole-number (or any number, "what" naming it: "a number of seconds") option value
 * or exit 2 with Cli_bad_value's message. */
long Cli_long(const char *cmd, const char *option, const char *value, long min, long max);
double Cli_double(const char *cmd, const char *option, const char *value, double min, double max, const char *what);

/* Print a JSON value to stdout, indented, with a trailing newline; frees it. */
void Cli_print_json(json_t *v);

/* A long-running command's ^C: from Cli_catch_stop until Cli_release_stop, SIGINT and SIGTERM
 * set the returned flag (cleared first) instead of ending the process, so the command can stop
 * at a clean point. With once, a second signal ends the process as usual. */
volatile sig_atomic_t *Cli_catch_stop(bool once);
void Cli_release_stop(void);

int cmd_task(Cli *cli, int argc, char **argv);
int cmd_phase(Cli *cli, int argc, char **argv);
int cmd_console(Cli *cli, int argc, char **argv);
int cmd_demo(Cli *cli, int argc, char **argv);
int cmd_runbook(Cli *cli, int argc, char **argv);
int cmd_eval(Cli *cli, int argc, char **argv);
int cmd_report(Cli *cli, int argc, char **argv);
int cmd_dataset(Cli *cli, int argc, char **argv);
int cmd_import(Cli *cli, int argc, char **argv);
int cmd_demo_logs(Cli *cli, int argc, char **argv);
int cmd_audit(Cli *cli, int argc, char **argv);
int cmd_touchpoints(Cli *cli, int argc, char **argv);
int cmd_prices(Cli *cli, int argc, char **argv);
int cmd_trainer(Cli *cli, int argc, char **argv);
int cmd_backend(Cli *cli, int argc, char **argv);
int cmd_train(Cli *cli, int argc, char **argv);
int cmd_jobs(Cli *cli, int argc, char **argv);
int cmd_job(Cli *cli, int argc, char **argv);
int cmd_gateway(Cli *cli, int argc, char **argv);
int cmd_route(Cli *cli, int argc, char **argv);
int cmd_deploy(Cli *cli, int argc, char **argv);
int cmd_rollout(Cli *cli, int argc, char **argv);
int cmd_review(Cli *cli, int argc, char **argv);
int cmd_operate(Cli *cli, int argc, char **argv);
int cmd_versions(Cli *cli, int argc, char **argv);
int cmd_replay(Cli *cli, int argc, char **argv);
int cmd_replay_server(Cli *cli, int argc, char **argv);

#endif
