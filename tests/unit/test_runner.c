/* test_runner.c - the runner's template checks and its reading of trainer log lines: lines as
 * axolotl v0.6.0 prints the Hugging Face Trainer's (transformers 4.47), and lines that only look
 * like progress. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "control/runner.h"
#include "tap.h"

static bool template_ok(const char *t, const char *want_in_err) {
   char *err = NULL;
   bool ok = Runner_check_template(t, &err);
   bool match = ok ? want_in_err == NULL : want_in_err && err && strstr(err, want_in_err);
   free(err);
   return match;
}

int main(void) {
   ok(template_ok("axolotl train {config}", NULL), "a local axolotl template");
   ok(template_ok("rsync -a {dir}/ gpu:j/ && ssh gpu 'cd j && axolotl train axolotl.yaml' && rsync -a gpu:j/adapter/ {output}/",
                  NULL), "an SSH template using {dir} and {output}");
   ok(template_ok("python train.py --data {train} --eval {test} --model {base_model} --out {output} --dir {dir}", NULL),
      "every placeholder");
   ok(template_ok("", "empty"), "empty refused");
   ok(template_ok(" \t ", "empty"), "blank refused");
   ok(template_ok("axolotl train {conifg}", "{conifg}, which is not a placeholder"), "unknown placeholder named");
   ok(template_ok("axolotl train {config", "not closed"), "unclosed brace");
   ok(template_ok("axolotl train config}", "without its '{'"), "stray closing brace");
   ok(template_ok("axolotl train {output}", "neither {config} nor {dir}"), "no way to the config");
   ok(template_ok("echo {}", "{}, which is not a placeholder"), "empty placeholder");

   RunnerProgress p = { 0 };
   ok(Runner_parse_line("{'loss': 1.2345, 'grad_norm': 0.8125, 'learning_rate': 0.0002, 'epoch': 0.5}", &p),
      "an HF Trainer logging dict");
   ok(p.has_loss && fabs(p.loss - 1.2345) < 1e-9, "loss read");
   ok(fabs(p.lr - 0.0002) < 1e-12 && fabs(p.epoch - 0.5) < 1e-9, "learning rate and epoch read");
   ok(!p.has_step && !p.has_eval_loss, "no step or eval loss on it");
   memset(&p, 0, sizeof p);
   ok(Runner_parse_line(" 25%|\xe2\x96\x88\xe2\x96\x88\xe2\x96\x8c       | 12/48 [00:05<00:15,  2.31it/s]", &p),
      "a tqdm bar");
   ok(p.has_step && p.step == 12 && p.total == 48, "step 12 of 48");
   memset(&p, 0, sizeof p);
   ok(Runner_parse_line("{'eval_loss': 0.8765, 'eval_runtime': 0.51, 'eval_samples_per_second': 70.2, 'epoch': 1.0}", &p),
      "an evaluation dict");
   ok(p.has_eval_loss && fabs(p.eval_loss - 0.8765) < 1e-9 && !p.has_loss, "eval loss read, not taken for the loss");
   memset(&p, 0, sizeof p);
   Runner_parse_line("{'train_runtime': 12.5, 'train_samples_per_second': 80.1, 'train_loss': 0.91, 'epoch': 3.0}", &p);
   ok(!p.has_loss, "the final train_loss summary is not a step's loss");
   memset(&p, 0, sizeof p);
   ok(!Runner_parse_line("[2026-12-07 01:00:00,000] [INFO] [axolotl.train.train:173] loaded 1/2 shards", &p),
      "a date and a fraction in prose are not progress");
   ok(!Runner_parse_line("Training Completed!!! Saving pre-trained model to ./adapter", &p), "plain text: nothing");
   ok(!Runner_parse_line("x 13/12 [00:01<00:00]", &p), "a step past the total is not progress");
   ok(!p.has_step, "no step taken from them");
   /* tqdm's redraws end in \r: the runner splits there; the last counter on a line wins. */
   memset(&p, 0, sizeof p);
   Runner_parse_line("  4%| | 1/24 [00:00<00:02, 9.5it/s]  8%| | 2/24 [00:00<00:02, 9.5it/s]", &p);
   ok(p.step == 2 && p.total == 24, "the last counter on a line");
   return tap_done();
}
