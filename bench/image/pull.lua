-- nsl run pull.lua REF: nsl.image.pull of REF over plain HTTP into the
-- store NSL_IMAGE_STORE names; prints its layers.
local nsl = require "nsl"
local rec = nsl.image.pull(arg[1], { insecure = true })
print(#rec.layers)
