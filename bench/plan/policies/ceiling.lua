-- bench: nothing over $40 per GPU-hour (reads the price of every offer)
function filter_offer(workload, offer)
    if offer.price_per_gpu > 40 then return false, "over $40 per GPU-hour" end
    return true
end
