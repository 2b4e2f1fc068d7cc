-- wrk script for bench/webhook.py: POSTs pre-signed webhook bodies, each one once.
-- args: <file of "signature<TAB>body" lines> <number of threads>
-- Each thread takes every n-th line, so no two requests carry the same message id
-- (unless the pool runs out: then it starts over and counts `wrapped`).

local threads = {}
local created = 0

function setup(thread)
   thread:set("tid", created)
   created = created + 1
   table.insert(threads, thread)
end

function init(args)
   local every = tonumber(args[2])
   bodies, signatures = {}, {}
   local line_no = 0
   for line in io.lines(args[1]) do
      if line_no % every == tid then
         local signature, body = line:match("^(%S+)\t(.*)$")
         signatures[#signatures + 1] = signature
         bodies[#bodies + 1] = body
      end
      line_no = line_no + 1
   end
   next_index, sent, ok, failed, wrapped = 0, 0, 0, 0, 0
   -- wrk calls request() once on the first thread's state to check the script;
   -- that request is never sent, so it must not use up a body nor count.
   checking = tid == 0
end

local function post(index)
   return wrk.format("POST", nil, {
      ["Content-Type"] = "application/json",
      ["X-Hub-Signature-256"] = signatures[index],
   }, bodies[index])
end

function request()
   if checking then
      checking = false
      return post(1)
   end
   next_index = next_index + 1
   if next_index > #bodies then
      next_index = 1
      wrapped = wrapped + 1
   end
   sent = sent + 1
   return post(next_index)
end

function response(status, headers, body)
   if status == 200 then
      ok = ok + 1
   else
      failed = failed + 1
   end
end

function done(summary, latency, requests)
   local totals = { sent = 0, ok = 0, failed = 0, wrapped = 0 }
   for _, thread in ipairs(threads) do
      for name, _ in pairs(totals) do
         totals[name] = totals[name] + thread:get(name)
      end
   end
   local errors = summary.errors
   io.write(string.format(
      'BENCH_JSON {"duration_us": %d, "completed": %d, "bytes": %d, "sent": %d, "ok": %d, '
         .. '"failed": %d, "wrapped": %d, "errors": {"connect": %d, "read": %d, "write": %d, '
         .. '"status": %d, "timeout": %d}, "latency_us": {"mean": %.1f, "max": %d, '
         .. '"p50": %d, "p90": %d, "p95": %d, "p99": %d, "p999": %d}}\n',
      summary.duration, summary.requests, summary.bytes, totals.sent, totals.ok,
      totals.failed, totals.wrapped, errors.connect, errors.read, errors.write,
      errors.status, errors.timeout, latency.mean, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(95),
      latency:percentile(99), latency:percentile(99.9)))
end
