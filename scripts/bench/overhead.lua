-- wrk script for bench-control.sh: post.lua's request, and the proxy's own measure of the
-- latency it adds to each answer (its x-sluice-overhead-us header: time in the gateway, the
-- upstream's excluded), summarised at the end as "overhead_us p50=N p99=N n=N".
dofile(os.getenv("BENCH_DIR") .. "/post.lua")

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    values = {}
end

function response(status, headers, body)
    local v = headers["x-sluice-overhead-us"]
    if v then
        values[#values + 1] = tonumber(v)
    end
end

function done(summary, latency, requests)
    local all = {}
    for _, t in ipairs(threads) do
        for _, v in ipairs(t:get("values")) do
            all[#all + 1] = v
        end
    end
    table.sort(all)
    if #all == 0 then
        print("overhead_us p50=0 p99=0 n=0")
        return
    end
    local function at(p)
        return all[math.max(1, math.ceil(p * #all))]
    end
    print(string.format("overhead_us p50=%d p99=%d n=%d", at(0.50), at(0.99), #all))
end
