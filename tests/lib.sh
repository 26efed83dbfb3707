# tests/lib.sh — shell helpers shared by the test and benchmark drivers.

# Floats in the model's input, from the JSON graph (cnncc --emit=json).
input_size() {
    sed -n 's/.*"inputs": \[{"name": "[^"]*", "shape": \[\([0-9, ]*\)\].*/\1/p' "$1" | tr ',' '\n' |
        awk 'BEGIN { p = 1 } { p *= $1 } END { print p }'
}

# Main outputs of the model, from the JSON graph.
output_count() {
    sed -n 's/.*"outputs": \[\([^]]*\)\].*/\1/p' "$1" | tr ',' '\n' | grep -c .
}

# prepare_model BUILD DIR MODEL: DIR/MODEL.json, seeded weights DIR/MODEL.safetensors
# (batch-normalization statistics included) and a seeded input DIR/MODEL.in.f32.
prepare_model() {
    "$1/cnncc" --emit=json "specs/$3.arch" >"$2/$3.json" &&
        "$1/ref/random_weights" "$2/$3.json" "$2/$3.safetensors" 7 >/dev/null &&
        "$1/ref/random_weights" --input "$(input_size "$2/$3.json")" "$2/$3.in.f32" 11 >/dev/null
}
