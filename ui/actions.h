/* actions.h - every user action, once: this table generates the enum, the names used in
 * key bindings, and the help screen (grouped by heading). */
#ifndef OFFRAMP_ACTIONS_H
#define OFFRAMP_ACTIONS_H

#include <curses.h>

#define ACTION_LIST(_) \
   _("Navigation", MOVE_UP, "move-up", "Move the cursor up one line") \
   _("Navigation", MOVE_DOWN, "move-down", "Move the cursor down one line") \
   _("Navigation", MOVE_PAGE_UP, "move-page-up", "Move up one page") \
   _("Navigation", MOVE_PAGE_DOWN, "move-page-down", "Move down one page") \
   _("Navigation", MOVE_FIRST, "move-first", "Jump to the first line") \
   _("Navigation", MOVE_LAST, "move-last", "Jump to the last line") \
   _("Navigation", ENTER, "enter", "Open the selected item") \
   _("Navigation", BACK, "back", "Close this view (on the last view: quit, asking first while services run)") \
   _("Navigation", ESCAPE, "escape", "Clear the view's filter, else close the view; never quits") \
   _("Navigation", QUIT, "quit", "Quit the console (asks first while services run)") \
   _("Views", VIEW_HELP, "view-help", "Show this help") \
   _("Views", VIEW_INVENTORY, "view-inventory", "Show the ranked inventory") \
   _("Views", VIEW_RUNBOOK, "view-runbook", "Open the runbook of the task's phase") \
   _("Views", VIEW_REPORT, "view-report", "Open the task's migration report (latest evaluation)") \
   _("Views", VIEW_AUDIT, "view-audit", "Show the audit: where the API money goes") \
   _("Views", VIEW_TOUCHPOINTS, "view-touchpoints", "Show untagged calls grouped by prompt template") \
   _("Views", VIEW_MESSAGES, "view-messages", "Show the message log: every message of this session, whole") \
   _("Views", REFRESH, "refresh", "Reload from the workspace and redraw") \
   _("Prompts", FILTER, "filter", "Filter this view by text (help, audit, touchpoints, inventory), else the inventory") \
   _("Prompts", PROMPT, "prompt", "Enter a command (Tab completes; ? lists them; Ctrl-U clears a prompt)") \
   _("Scores", SCORE_NEXT, "score-next", "Select the next score (S, I, C)") \
   _("Scores", SCORE_PREV, "score-prev", "Select the previous score") \
   _("Scores", SCORE_UP, "score-up", "Raise the selected score (override)") \
   _("Scores", SCORE_DOWN, "score-down", "Lower the selected score (override)") \
   _("Scores", SCORE_AUTO, "score-auto", "Reset the selected score to the suggestion") \
   _("Scores", SCORE_ACCEPT, "score-accept", "Accept the scores as reviewed") \
   _("Phases", PHASE_ADVANCE, "phase-advance", "Advance to the next phase if the gate is open") \
   _("Phases", PHASE_ROLLBACK, "phase-rollback", "Roll back to an earlier phase") \
   _("Phases", PHASE_STAY, "phase-stay", "Mark the task as staying on the API") \
   _("Phases", APPLY_THRESHOLD, "apply-threshold", "Set min_confidence from the latest evaluation") \
   _("Dataset", DATASET_BUILD, "dataset-build", "Build a dataset with the default filters and split") \
   _("Runbooks", CHECK_TOGGLE, "check-toggle", "Check or uncheck the checklist item") \
   _("Runbooks", RUNBOOK_NEXT, "runbook-next", "Show the next phase's runbook") \
   _("Runbooks", RUNBOOK_PREV, "runbook-prev", "Show the previous phase's runbook") \
   _("Audit", SORT_NEXT, "sort-next", "Sort the audit table by the next column") \
   _("Audit", TOUCHPOINT_NAME, "touchpoint-name", "Name the touchpoint: create a task from it") \
   _("Audit", TOUCHPOINT_MERGE, "touchpoint-merge", "Merge the touchpoint into an existing task") \
   _("Training", TRAIN_START, "train-start", "Start a training job (latest backend and dataset)") \
   _("Training", TRAIN_NEXT, "train-next", "Select the next experiment") \
   _("Training", TRAIN_CANCEL, "train-cancel", "Cancel the selected experiment's job") \
   _("Training", TRAIN_PICK, "train-pick", "Pick the selected experiment as the candidate") \
   _("Rollout", OPERATE_RETRAIN, "operate-retrain", "Operate: build a new dataset version and train again") \
   _("Rollout", ROUTE_REVERT, "route-revert", "Operate: put back an earlier model version (route revert)") \
   _("Rollout", VIEW_VERSIONS, "view-versions", "Open the task's model versions: artifacts, deployments, route revisions") \
   _("Rollout", DEPLOY_ROLLBACK, "deploy-rollback", "Versions: roll the deployment back to the previous version (asks first)") \
   _("Rollout", VIEW_ROLLOUT, "view-rollout", "Open the task's rollout: live shadow agreement, steps, cutover") \
   _("Rollout", ROLLOUT_STEP_UP, "rollout-step-up", "Step the candidate's share up (100 % asks first)") \
   _("Rollout", ROLLOUT_STEP_DOWN, "rollout-step-down", "Step the candidate's share down") \
   _("Rollout", ROLLOUT_ABORT, "rollout-abort", "Abort / roll back: all traffic to the stable arm (shadow)") \
   _("Rollout", ROLLOUT_PROMOTE_FULL, "rollout-promote-full", "Promote-full: skip the remaining steps to cutover") \
   _("Rollout", ROLLOUT_PAUSE, "rollout-pause", "Pause or resume the rollout's auto-promote") \
   _("Rollout", CONFIDENCE_UP, "confidence-up", "Cutover: raise min_confidence by 0.05") \
   _("Rollout", CONFIDENCE_DOWN, "confidence-down", "Cutover: lower min_confidence by 0.05") \
   _("Rollout", VERIFY_UP, "verify-up", "Raise verify_percent by 1") \
   _("Rollout", VERIFY_DOWN, "verify-down", "Lower verify_percent by 1") \
   _("Rollout", VIEW_REVIEW, "view-review", "Review recent disagreements side by side") \
   _("Review", GRADE_PRIMARY, "grade-primary", "Grade the disagreement: the primary was right") \
   _("Review", GRADE_CANDIDATE, "grade-candidate", "Grade: the candidate was right (flags the primary's answer)") \
   _("Review", GRADE_BOTH, "grade-both", "Grade: both answers are fine") \
   _("Review", GRADE_NEITHER, "grade-neither", "Grade: both answers are wrong (flags the primary's answer)") \
   _("Review", DETAIL_SCROLL, "detail-scroll", "Scroll the selected disagreement's input and answers (back to the top at the end)")

#define ACTION_ENUM(group, id, name, help) ACTION_##id,
typedef enum {
   ACTION_NONE = KEY_MAX + 1,   /* past KEY_MAX: a key code and an action never collide */
   ACTION_LIST(ACTION_ENUM)
   ACTION_END
} Action;
#undef ACTION_ENUM

typedef struct {
   const char *group, *name, *help;
   Action action;
} ActionInfo;

extern const ActionInfo Action_info[];
extern const int Action_count;

Action Action_by_name(const char *name);
const char *Action_name(Action a);

/* Key bindings: "bind VIEW KEY ACTION" lines; view "generic" applies everywhere. */
void Keys_init(void);
Action Keys_lookup(const char *view, int key);
/* Readable names of the keys bound to action in view (or generic), e.g. "j, <Down>". */
void Keys_describe(const char *view, Action a, char *buf, size_t size);
/* The actions bound in view itself (not generic), in binding order; returns how many. */
int Keys_view_actions(const char *view, Action *out, int max);
/* Parse "<Enter>", "<C-l>", "j" ...; -1 if not a key. */
int Keys_parse(const char *s, int *len);
const char *Keys_name(int key, char *buf, size_t size);

#endif
