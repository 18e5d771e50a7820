B=.device/segmenta
for k in 8 64; do for g in 512 2048 16384 65535; do
  echo "k=$k groups=$g"; $B bench --n 16300000 --d 16 -k $k --iters 10 --backends gpu --gpu-groups $g --quiet 2>&1 | grep -E "^gpu|kernels"
done; done
