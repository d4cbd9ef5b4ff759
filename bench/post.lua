-- wrk script: POST one image as multipart/form-data (field "file") to /api/predict.
-- The image path comes from the environment variable BENCH_IMAGE.
-- At the end it writes one line "BENCH_JSON {...}" with counts and latency percentiles (microseconds);
-- "http_errors" counts answers with a status of 400 or more (wrk's own count).

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

-- No response() hook: with one, wrk hands every 70 KB body to Lua, which costs the load
-- generator CPU on the same cores as the server.  wrk counts answers with status >= 400 itself
-- (summary.errors.status).

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        'BENCH_JSON {"requests": %d, "duration_us": %d, "ok": %d, "http_errors": %d, '
        .. '"connect": %d, "read": %d, "write": %d, "timeout": %d, '
        .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
        summary.requests, summary.duration, summary.requests - e.status, e.status,
        e.connect, e.read, e.write, e.timeout,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
