-- wrk: the run's summary as one JSON line (latencies in microseconds), for bench/lib.ts to read.
-- With WRK_COOKIES=<file> (one Cookie header value per line), each request takes the next one, so a
-- run spreads over many sessions; without it, wrk's fast path sends the same request every time.
local cookies = {}
local file = os.getenv('WRK_COOKIES')
if file then
  for line in io.lines(file) do cookies[#cookies + 1] = line end
  local n = 0
  request = function()
    n = n % #cookies + 1
    wrk.headers['Cookie'] = cookies[n]
    return wrk.format()
  end
end

done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRK {"requests":%d,"seconds":%.3f,"p50":%d,"p90":%d,"p99":%d,"mean":%.1f,"errors":%d,"non2xx":%d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, errors.connect + errors.read + errors.write + errors.timeout,
    errors.status))
end
