-- bench: a copy of specs/policies/committed-use.lua (reads cloud, market, GPU, region)
-- Committed-use discounts: capacity the organisation has already paid for (AWS Savings
-- Plans, GCP committed use discounts, Azure reservations) makes on-demand hours on those
-- clouds cheaper than their list price. score_offer weighs such offers at the effective
-- price, so the planner prefers them; plan output and budgets still show list prices.
-- Change the table to your own commitments.

local commitments = {
    -- cloud = { discount = fraction off on-demand, models = the GPUs it covers (nil: all) }
    gcp = { discount = 0.37, models = { H100 = true, ["A100-80GB"] = true } },
    aws = { discount = 0.28, regions = { ["us-east-1"] = true, ["us-west-2"] = true } },
}

function score_offer(workload, offer)
    local c = commitments[offer.cloud]
    if not c or offer.spot then return 1 end -- spot is never covered
    if c.models and not c.models[offer.gpu] then return 1 end
    if c.regions and not c.regions[offer.region] then return 1 end
    return 1 - c.discount
end
