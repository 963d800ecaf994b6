-- vex_net bench: HTTP/1.1 pipelining, TechEmpower style.
-- Each write carries DEPTH copies of the request built by wrk.format() (method, path,
-- headers and body as set before this file is loaded). DEPTH is the first script
-- argument (`wrk ... URL -- 16`), 16 when absent.
local pipelined

init = function(args)
  local depth = tonumber(args[1]) or 16
  local copies = {}
  for i = 1, depth do copies[i] = wrk.format() end
  pipelined = table.concat(copies)
end

request = function()
  return pipelined
end
