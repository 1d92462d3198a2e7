-- wrk script of bench/sync_drain.py, which fills in the __NAMES__: POST /echo, POST
-- /api/v1/visits (one fresh visit a request) or POST /api/v1/sync/batch (PER_BATCH fresh
-- visits a request). Each wrk thread (one connection) visits its own group of households,
-- as each grid worker visits their own grid: batches never queue on each other's locks.
local mode, path, token, nonce = "__MODE__", "__PATH__", "__TOKEN__", "__NONCE__"
local groups = {__GROUPS__}
local per_batch, t0, lat, lon = __PER_BATCH__, __T0__, __LAT__, __LON__
local threads, next_id = {}, 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

-- globals, not locals: done() reads them from each thread with thread:get
count, sent_records, ok_records, made_records, bad_status = 0, 0, 0, 0, 0

local function visit(n)
  local homes = groups[(tid % #groups) + 1]
  local hid = homes[(n % #homes) + 1]
  local outcome = (n % 3 == 0) and "not_home" or "met"
  return string.format(
    '{"client_uuid":"%s-%04x-4000-8000-%012x","household_id":%d,"outcome":"%s",'
    .. '"visited_at":"%s","location":{"lat":%.6f,"lon":%.6f,"accuracy_m":8}}',
    nonce, tid, n, hid, outcome, os.date("!%Y-%m-%dT%H:%M:%S+00:00", t0 + n % 40000),
    lat, lon)
end

function request()
  local body
  if mode == "batch" then
    local parts = {}
    for i = 1, per_batch do
      count = count + 1
      parts[i] = '{"kind":"visit","client_uuid":"' ..
        string.format("%s-%04x-4000-8000-%012x", nonce, tid, count) .. '","body":' ..
        visit(count) .. '}'
    end
    sent_records = sent_records + per_batch
    body = '{"records":[' .. table.concat(parts, ",") .. ']}'
  else
    count = count + 1
    sent_records = sent_records + 1
    body = visit(count)
  end
  return wrk.format("POST", path, {["Content-Type"] = "application/json",
                                   ["Authorization"] = "Bearer " .. token}, body)
end

function response(status, headers, body)
  if mode == "batch" then
    if status ~= 200 then bad_status = bad_status + 1 return end
    local _, made = string.gsub(body, '"status":%s*201', "")
    local _, replay = string.gsub(body, '"status":%s*200', "")
    made_records = made_records + made
    ok_records = ok_records + made + replay
  elseif (mode == "single" and status ~= 201) or (mode == "echo" and status ~= 200) then
    bad_status = bad_status + 1
  else
    ok_records = ok_records + 1
    if status == 201 then made_records = made_records + 1 end
  end
end

function done(summary, latency, requests)
  local ok, made, bad = 0, 0, 0
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("ok_records")
    made = made + thread:get("made_records")
    bad = bad + thread:get("bad_status")
  end
  io.write(string.format(
    "GWRESULT requests=%d duration_us=%d ok=%d made=%d bad_status=%d errors=%d "
    .. "p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, ok, made, bad,
    summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
