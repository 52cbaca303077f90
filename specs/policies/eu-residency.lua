-- Data residency: a workload labelled `residency: eu` runs only in EU regions.
-- filter_offer keeps the planner from choosing anything else; validate_plan (hard: no
-- override) catches what the planner did not choose, such as a saved plan or an old state.

local eu_azure = {
    westeurope = true, northeurope = true, francecentral = true, francesouth = true,
    germanywestcentral = true, germanynorth = true, swedencentral = true, swedensouth = true,
    italynorth = true, polandcentral = true, spaincentral = true,
}

local function in_eu(cloud, region)
    if cloud == "aws" then return region:match("^eu%-") ~= nil end
    if cloud == "gcp" then return region:match("^europe%-") ~= nil end
    if cloud == "azure" then return eu_azure[region] == true end
    return false
end

function filter_offer(workload, offer)
    if workload.labels.residency == "eu" and not in_eu(offer.cloud, offer.region) then
        return false, "outside the EU (residency: eu)"
    end
    return true
end

function validate_plan(plan)
    local findings = {}
    for _, node in ipairs(plan.nodes) do
        local w = plan.workloads[node.workload]
        if w.labels.residency == "eu" and not in_eu(node.cloud, node.region) then
            findings[#findings + 1] = {
                level = "hard",
                address = node.address,
                message = ("data must stay in the EU, but %s/%s is not"):format(node.cloud,
                                                                             node.region),
            }
        end
    end
    return findings
end
