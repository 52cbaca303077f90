-- bench: production prefers on-demand capacity: spot offers weigh 25% more for tier: prod
-- (reads labels.tier, then the market)
function score_offer(workload, offer)
    if workload.labels.tier == "prod" and offer.spot then return 1.25 end
    return 1
end
