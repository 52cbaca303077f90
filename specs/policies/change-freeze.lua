-- A change freeze during apply: while `frozen` is true nothing is deleted or replaced
-- (new nodes still go ahead), and every node made is announced.
-- before_apply(change) sees one entry of resource_changes (docs/plan-json.md); returning
-- false and a reason vetoes it, which stops the apply before anything changes.

local frozen = true

function before_apply(change)
    if frozen and (change.action == "delete" or change.action == "replace") then
        return false, "change freeze: no deletes or replaces until it is lifted"
    end
    return true
end

function after_apply(node)
    print(("made %s: %s in %s/%s"):format(node.address, node.cloud_id,
                                         node.placement.region, node.placement.zone))
end
