#!/bin/sh
# admin_locked.sh - route saves wait for a workspace another process has locked on a thread of
# their own: chat requests are answered while the PUT waits, the PUT then succeeds, or fails
# with a 503 that says why once the lock outlasts the busy timeout; queued changes keep their order.
. "$TESTS_SRCDIR/gw/gwlib.sh"

start_standin up --echo
start_standin cand --content billing
start_gateway --upstream "$up_URL"
CAND='"candidate":{"url":"'"$cand_URL"'"}'
is "$(admin PUT /admin/routes/intent '{"mode":"passthrough"}' | jq -r .route.mode)" passthrough "a route is set"

# lock NAME: another process takes the workspace's write lock and keeps it until $WORK/NAME.release.
lock() {
   rm -f "$WORK/$1.locked" "$WORK/$1.release"
   { echo "BEGIN IMMEDIATE;"; echo "INSERT INTO settings(key, value) VALUES ('lock.$1', 'held');"
     echo ".shell touch $WORK/$1.locked"
     echo ".shell while [ ! -e $WORK/$1.release ]; do sleep 0.05; done"
     echo "COMMIT;"; } | sqlite3 "$WS" > "$WORK/$1.sqlite.out" 2>&1 &
   LOCK_PID=$!
   PIDS="$PIDS $LOCK_PID"
   for _ in $(seq 200); do [ -e "$WORK/$1.locked" ] && return 0; sleep 0.05; done
   return 1
}
unlock() { touch "$WORK/$1.release"; wait "$LOCK_PID"; }

put_bg() {   # put_bg NAME PATH BODY: a PUT (or rollback POST) in the background, status in $WORK/NAME.code
   local m=PUT
   case $2 in */rollback) m=POST ;; esac
   curl -s -m 60 -o "$WORK/$1.body" -w '%{http_code}' -X $m -H "Authorization: Bearer $TOKEN" ${3:+-d "$3"} \
      "$GW$2" > "$WORK/$1.code" &
   eval "$1_PID=$!"
}

chats() {   # chats N: N chat requests one after another; prints how many were answered 200
   local ok=0
   for i in $(seq "$1"); do
      c=$(curl -s -m 20 -o /dev/null -w '%{http_code}' -H 'X-Offramp-Task: intent' \
         -d '{"messages":[{"role":"user","content":"hello '"$i"'"}]}' "$GW/v1/chat/completions")
      [ "$c" = 200 ] && ok=$((ok + 1))
   done
   echo $ok
}

check "another process holds the workspace's write lock" lock one
put_bg put1 /admin/routes/intent '{"force":true,"mode":"shadow",'"$CAND"',"reason":"while locked (a test of locking, not of the gates)"}'
sleep 0.5   # let the PUT reach the gateway (it cannot be seen waiting from outside)
is "$(chats 10)" 10 "10 chat requests answered while the route save waits for the lock"
check "the PUT is still waiting after them" sh -c "kill -0 $put1_PID 2>/dev/null && [ ! -s '$WORK/put1.code' ]"
# Answers, not "ok": the capture writer may by now have waited out its own 1 s for the lock and
# say so ("degraded", with the reason) - the point is that the loop is not the one waiting.
hz=$(curl -s -m 20 "$GW/healthz" | jq -r .status)
check "healthz answers meanwhile ($hz)" test "$hz" = ok -o "$hz" = degraded
is "$(curl -s -m 20 -H "Authorization: Bearer $TOKEN" "$GW/admin/routes" | jq -r '.routes[0].mode')" passthrough \
   "admin reads answer meanwhile, with the route not changed yet"
unlock one
wait "$put1_PID"
is "$(cat "$WORK/put1.code")" 200 "once the lock is released the PUT succeeds"
is "$(jq -r .route.mode "$WORK/put1.body")" shadow "and answers the new route"
is "$(admin GET /admin/routes/intent | jq -r .route.mode)" shadow "which the gateway now serves"
is "$(sql "SELECT reason FROM route_events ORDER BY id DESC LIMIT 1")" "while locked (a test of locking, not of the gates)" "with its route event"

# A lock that outlasts the busy timeout (5 s): a 503 that says what happened; the route stays.
check "the lock is taken again" lock two
put_bg put2 /admin/routes/intent '{"mode":"passthrough","reason":"too late"}'
is "$(chats 5)" 5 "chat requests answered while the second save waits"
for _ in $(seq 300); do [ -s "$WORK/put2.code" ] && break; sleep 0.1; done
is "$(cat "$WORK/put2.code")" 503 "a save that cannot get the lock in time: 503"
check "the message says the workspace was locked and to retry" \
   sh -c "jq -r .error.message '$WORK/put2.body' | grep -q 'locked.*retry'"
is "$(jq -r .error.code "$WORK/put2.body")" workspace_locked "error code workspace_locked"
unlock two
is "$(admin GET /admin/routes/intent | jq -r .route.mode)" shadow "the route is unchanged"
is "$(sql "SELECT count(*) FROM route_events WHERE reason = 'too late'")" 0 "and no event was written"

# Changes queued behind a lock are saved in the order they came: set, then rollback.
check "the lock is taken a third time" lock three
put_bg put3 /admin/routes/intent '{"force":true,"mode":"canary","percent":5,'"$CAND"',"reason":"step (a test of locking, not of the gates)"}'
sleep 0.3
put_bg put4 /admin/routes/intent/rollback ''
sleep 0.3
unlock three
wait "$put3_PID" "$put4_PID"
is "$(cat "$WORK/put3.code") $(cat "$WORK/put4.code")" "200 200" "both queued changes succeed"
is "$(sql "SELECT group_concat(kind || ':' || json_extract(new_route, '$.mode'), ' ') FROM
          (SELECT kind, new_route FROM route_events ORDER BY id DESC LIMIT 2 ) ")" \
   "rollback:passthrough set:canary" "in order: the rollback undid the canary step"
is "$(admin GET /admin/routes/intent | jq -r .route.mode)" passthrough "the gateway serves the last one"
finish
