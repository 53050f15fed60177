// pm2 settings for a lemon-cluster provider in cluster mode.
module.exports = {
  apps: [
    {
      name: 'movie-provider',
      script: __dirname + '/provider.js',
      exec_mode: 'cluster',
      instances: 2,
      // Stop the old worker only once the new one has registered (it sends 'ready').
      wait_ready: true,
      listen_timeout: 15000,
      // Longer than lemon's drain: the consumer pool's 4 s idle timeout plus requests in flight.
      kill_timeout: 12000,
      env: {
        ZK: '127.0.0.1:2181',
        PORT: '20080',
      },
    },
  ],
}
