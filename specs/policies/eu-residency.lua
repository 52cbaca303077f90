-- Data residency: a workload labelled `residency: eu` runs only in EU regions.
-- hard: no override; move the workload or change its label.

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
