-- bench: the health team's production data stays out of a list of regions (reads
-- labels.team and labels.tier, then cloud and region)
local banned = { ["me-central1"] = true, ["me-west1"] = true, ["me-central2"] = true,
                 ["il-central-1"] = true, ["israelcentral"] = true, ["uaenorth"] = true,
                 ["uaecentral"] = true, ["ap-east-1"] = true, ["eastasia"] = true }
function filter_offer(workload, offer)
    if workload.kind == "federated" then return true end -- sites are pinned already
    if workload.labels.team ~= "health" or workload.labels.tier ~= "prod" then return true end
    if banned[offer.region] then return false, offer.cloud .. " region on the banned list" end
    return true
end
