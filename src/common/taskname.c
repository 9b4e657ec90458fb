/* taskname.c - the one rule for what a task may be called. */
#include "config.h"

#include <string.h>

#include "common/jsonscan.h"
#include "common/taskname.h"
#include "common/util.h"

bool Task_name_valid(const char *name, char **err) {
   size_t n = strlen(name);
   if (n == 0 || n > 64) {
      *err = xasprintf("task name '%s' must be 1 to 64 characters long", name);
      return false;
   }
   if (name[0] == '-' || name[0] == '.') {
      *err = xasprintf("task name '%s' must not start with '%c'", name, name[0]);
      return false;
   }
   /* A name that is not UTF-8 could be stored but never listed: JSON cannot carry it. */
   if (!Jsonscan_utf8(name, n)) {
      *err = xasprintf("task name '%s' is not UTF-8 text (send the name UTF-8 encoded)", name);
      return false;
   }
   for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
      if (*p >= 0x80 || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
          || *p == '-' || *p == '_' || *p == '.')
         continue;
      *err = xasprintf("task name '%s' has '%c': use letters, digits, '-', '_' or '.' (e.g. ticket-intent)", name, *p);
      return false;
   }
   return true;
}
