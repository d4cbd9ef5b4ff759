-- wrk script: POST one image as multipart/form-data (field "file") to /api/predict.
-- The image path comes from the environment variable BENCH_IMAGE.
-- At the end it writes one line "BENCH_JSON {...}" with counts and latency percentiles (microseconds).

local path = os.getenv("BENCH_IMAGE")
local handle = assert(io.open(path, "rb"), "cannot open BENCH_IMAGE " .. tostring(path))
local image = handle:read("*all")
handle:close()

local boundary = "modelhub-bench-7d1f0c"
local mime = path:lower():match("%.png$") and "image/png" or "image/jpeg"
wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH") or "/api/predict"
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
wrk.body = "--" .. boundary .. "\r\n"
    .. 'Content-Disposition: form-data; name="file"; filename="image"\r\n'
    .. "Content-Type: " .. mime .. "\r\n\r\n"
    .. image .. "\r\n--" .. boundary .. "--\r\n"

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    ok = 0
    bad = 0
end

function response(status, headers, body)
    if status >= 200 and status < 300 then
        ok = ok + 1
    else
        bad = bad + 1
    end
end

function done(summary, latency, requests)
    local good, failed = 0, 0
    for _, thread in ipairs(threads) do
        good = good + thread:get("ok")
        failed = failed + thread:get("bad")
    end
    local e = summary.errors
    io.write(string.format(
        'BENCH_JSON {"requests": %d, "duration_us": %d, "ok": %d, "non2xx": %d, '
        .. '"connect": %d, "read": %d, "write": %d, "timeout": %d, '
        .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
        summary.requests, summary.duration, good, failed,
        e.connect, e.read, e.write, e.timeout,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
